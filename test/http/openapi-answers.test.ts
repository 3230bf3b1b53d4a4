/**
 * The OpenAPI document against the service itself: it passes `redocly lint --extends recommended` with no error,
 * and real answers of every route, at every status the route can give, are described by it: the status is
 * documented for that operation, the body validates against its schema, the media type is the documented one,
 * and every header the answer carries is documented. When the service and the document drift apart, this fails.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import type { App } from "../../src/http/app";
import { AuthThrottle } from "../../src/http/auth-throttle";
import { EventStreamHub, streamSourceOf } from "../../src/http/event-stream-hub";
import { StorageUnavailableError } from "../../src/storage-errors";
import { VerificationJobs } from "../../src/audit/verification-jobs";
import { verificationRunnerFor } from "../../src/audit/verification-runner";
import { DEFAULT_VERIFICATION_PACE } from "../../src/audit/verification-pace";
import { documentedResponse, documentOnly, documentOnSqlite, fullApp, servedDocument, templateOf, type Json } from "../support/openapi-document";
import { openTestBackend, TEST_BACKEND, type TestBackend } from "../support/test-backend";
import { AUDITOR_SECRET, TEST_SECRET } from "../support/test-service";
import { BATCH_UPDATE_PATH } from "../../src/http/opportunity-routes";
import { CONTRACT_EXAMPLE, CREATE_PATH, UPDATE_PATH } from "./http-client";

const root = resolve(import.meta.dir, "../..");
let backend: TestBackend;
let app: App;
let doc: Json;
/** Apps whose database or writer fails, for the 500 and 503 answers. */
let broken: App;
let unavailable: App;
/** An app whose throttle has locked the address out (429). */
let throttled: App;
let notReady: App;
let readinessFails: App;
/** An app whose verification jobs have known ids, one of them started before the cases run. */
let auditing: App;
const VERIFICATIONS = "/api/audit/verifications";

/** A storage (or writer) every call of which throws `error`. */
function failing<T extends object>(target: T, error: () => Error): T {
  return new Proxy(target, { get: (object, name) => (typeof (object as Json)[name as string] === "function" ? () => Promise.reject(error()) : (object as Json)[name as string]) });
}

/**
 * The jobs of these apps at normal priority: what their answers look like does not depend on it, and at the
 * service's nice 19 a job waits behind everything else make test runs (afterAll waits for them to end).
 */
const jobsAtNormalPriority = (options: { newId?: () => string } = {}) =>
  new VerificationJobs(verificationRunnerFor(backend.storage, { ...DEFAULT_VERIFICATION_PACE, lowPriority: false }), options);

beforeAll(async () => {
  backend = await openTestBackend();
  app = fullApp(backend, { verifications: jobsAtNormalPriority() });
  doc = await servedDocument(app);
  const boom = () => new Error("boom");
  const down = () => new StorageUnavailableError("ERR_POSTGRES_CONNECTION_CLOSED", new Error("connection closed"));
  broken = fullApp({ writer: failing(backend.writer, boom), storage: failing(backend.storage, boom) });
  unavailable = fullApp({ writer: failing(backend.writer, down), storage: failing(backend.storage, down) });
  throttled = fullApp(backend, { authThrottle: new AuthThrottle({ limit: 1, windowMs: 60_000, lockoutMs: 60_000 }) });
  await throttled.handle(new Request("http://localhost/api/stages", { headers: { "x-internal-secret": "wrong-secret-0123456789" } }));
  notReady = fullApp(backend, { readiness: () => "数据库无法连接 (ECONNREFUSED)" });
  readinessFails = fullApp(backend, { readiness: () => Promise.reject(boom()) });
  let jobs = 0;
  auditing = fullApp(backend, { verifications: jobsAtNormalPriority({ newId: () => `doc-job-${++jobs}` }) });
  await auditing.handle(new Request(`http://localhost${VERIFICATIONS}`, { method: "POST", headers: { "x-internal-secret": TEST_SECRET } }));
  const created = await app.handle(
    new Request(`http://localhost${CREATE_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-internal-secret": TEST_SECRET },
      body: JSON.stringify({ opportunityCode: CONTRACT_EXAMPLE.opportunityCode, opportunityName: "文档校验", endCustomerName: "某局", salesExpansionId: "9007199254740993" }),
    }),
  );
  expect(created.status).toBe(200);
});
afterAll(async () => {
  await Promise.all([app.verifications.idle(), auditing.verifications.idle()]);
  await backend.dispose();
});

/** An app whose event streams end a moment after they open (its hub closes), so that a stream's whole body can be read. */
function endingStreams(): App {
  const hub = new EventStreamHub(streamSourceOf(backend.storage));
  setTimeout(() => void hub.close(), 200);
  return fullApp(backend, { eventStreams: hub });
}

/** An app whose event streams are all taken (maxStreams 0), or whose hub has stopped. */
const streamsFull = () => fullApp(backend, { eventStreams: new EventStreamHub(streamSourceOf(backend.storage), { maxStreams: 0 }) });
function streamsStopped(): App {
  const hub = new EventStreamHub(streamSourceOf(backend.storage));
  void hub.close();
  return fullApp(backend, { eventStreams: hub });
}

// The lint reads the document alone: it runs in the SQLite run (see documentOnly); the other runs check that
// their document is that one.
test.skipIf(TEST_BACKEND === "sqlite")(`the document served over ${TEST_BACKEND} is the one the SQLite run lints`, async () => {
  expect(doc).toEqual(await documentOnSqlite());
});

documentOnly.describe("redocly lint --extends recommended", () => {
  test("0 errors; the only warning is the license without a URL (an internal service has none to give)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "openapi-lint-"));
    try {
      const file = join(dir, "openapi.json");
      writeFileSync(file, JSON.stringify(doc));
      const lint = Bun.spawnSync([process.execPath, join(root, "node_modules/@redocly/cli/bin/cli.js"), "lint", "--extends", "recommended", "--format", "json", file], {
        env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
      });
      const report = JSON.parse(lint.stdout.toString()) as { totals: { errors: number }; problems: { ruleId: string; severity: string; message: string }[] };
      expect(report.problems.filter((problem) => problem.severity === "error")).toEqual([]);
      expect(report.problems.map((problem) => problem.ruleId)).toEqual(["info-license-strict"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const JSON_HEADERS = { "content-type": "application/json", "x-internal-secret": TEST_SECRET };
type Case = [name: string, app: () => App, method: string, path: string, init: RequestInit, status: number];

const body = (value: unknown) => JSON.stringify(value);
const update = (value: unknown, headers: Record<string, string> = {}): RequestInit => ({ headers: { ...JSON_HEADERS, ...headers }, body: body(value) });
const secret = { headers: { "x-internal-secret": TEST_SECRET } };
const code = CONTRACT_EXAMPLE.opportunityCode;

const WRITE_CASES = (path: string, method: string, good: unknown, bad: unknown): Case[] => [
  [`${method} success`, () => app, method, path, update(good), 200],
  [`${method} business failure`, () => app, method, path, update(bad), 200],
  [`${method} body not JSON`, () => app, method, path, { headers: JSON_HEADERS, body: "{" }, 400],
  [`${method} no secret`, () => app, method, path, { headers: { "content-type": "application/json" }, body: body(good) }, 401],
  [`${method} auditor`, () => app, method, path, update(good, { "x-internal-secret": AUDITOR_SECRET }), 403],
  [`${method} other method`, () => app, "DELETE", path, secret, 405],
  [`${method} body too large`, () => app, method, path, update({ ...(good as Json), description: "长".repeat(70_000) }), 413],
  [`${method} not JSON content`, () => app, method, path, { headers: { ...JSON_HEADERS, "content-type": "text/plain" }, body: body(good) }, 415],
  [`${method} throttled`, () => throttled, method, path, update(good), 429],
  [`${method} writer fails`, () => broken, method, path, update(good), 500],
  [`${method} database down`, () => unavailable, method, path, update(good), 503],
];

const READ_CASES = (path: string, failurePath: string): Case[] => [
  [`${path} success`, () => app, "GET", path, secret, 200],
  [`${path} business failure`, () => app, "GET", failurePath, secret, 200],
  [`${path} bad Host`, () => app, "GET", path, secret, 400],
  [`${path} no secret`, () => app, "GET", path, {}, 401],
  [`${path} other method`, () => app, "POST", path, secret, 405],
  [`${path} throttled`, () => throttled, "GET", path, secret, 429],
  [`${path} database fails`, () => broken, "GET", path, secret, 500],
  [`${path} database down`, () => unavailable, "GET", path, secret, 503],
];

const CASES: Case[] = [
  ...WRITE_CASES(UPDATE_PATH, "PUT", { opportunityCode: code, amount: 2800000 }, { opportunityCode: "NO-SUCH", amount: 1 }),
  [`PUT replayed`, () => app, "PUT", UPDATE_PATH, update({ opportunityCode: code, stage: "won" }, { "idempotency-key": "doc-replay" }), 200],
  [`PUT replayed again`, () => app, "PUT", UPDATE_PATH, update({ opportunityCode: code, stage: "won" }, { "idempotency-key": "doc-replay" }), 200],
  [`PUT dry run`, () => app, "PUT", `${UPDATE_PATH}?dryRun=true`, update({ opportunityCode: code, amount: 1500000, stage: "bidding" }), 200],
  [`PUT dry run refused`, () => app, "PUT", `${UPDATE_PATH}?dryRun=true`, update({ opportunityCode: "NO-SUCH", amount: 1 }), 200],
  [`PUT unknown query parameter`, () => app, "PUT", `${UPDATE_PATH}?dry_run=true`, update({ opportunityCode: code, amount: 1 }), 200],
  ...WRITE_CASES(CREATE_PATH, "POST", { opportunityCode: "DOC-NEW", opportunityName: "新", endCustomerName: "某局" }, { opportunityCode: code, opportunityName: "重", endCustomerName: "某局" }),
  [`POST dry run`, () => app, "POST", `${CREATE_PATH}?dryRun=true`, update({ opportunityCode: "DOC-DRY", opportunityName: "试", endCustomerName: "某局", salesExpansionId: "9007199254740993" }), 200],
  ...WRITE_CASES(BATCH_UPDATE_PATH, "PUT", { items: [{ opportunityCode: code, amount: 2900000 }, { opportunityCode: "NO-SUCH", amount: 1 }] }, { items: [] }),
  [`batch allOrNone stopped`, () => app, "PUT", BATCH_UPDATE_PATH, update({ allOrNone: true, items: [{ opportunityCode: code, amount: 1 }, { opportunityCode: "NO-SUCH", amount: 1 }] }), 200],
  [`batch dry run`, () => app, "PUT", `${BATCH_UPDATE_PATH}?dryRun=true`, update({ items: [{ opportunityCode: code, amount: 3000000 }, { opportunityCode: code, confidencePct: "X" }] }), 200],
  [`batch replayed`, () => app, "PUT", BATCH_UPDATE_PATH, update({ items: [{ opportunityCode: code, description: "批量" }] }, { "idempotency-key": "doc-batch" }), 200],
  [`batch replayed again`, () => app, "PUT", BATCH_UPDATE_PATH, update({ items: [{ opportunityCode: code, description: "批量" }] }, { "idempotency-key": "doc-batch" }), 200],
  ...READ_CASES(`/api/opportunities/${code}`, "/api/opportunities/NO-SUCH"),
  [`read a past version`, () => app, "GET", `/api/opportunities/${code}?version=1`, secret, 200],
  [`read with a bad path`, () => app, "GET", "/api/opportunities/%zz", secret, 400],
  ...READ_CASES(`/api/opportunities/${code}/history`, "/api/opportunities/NO-SUCH/history"),
  [`history limit=0`, () => app, "GET", `/api/opportunities/${code}/history?limit=0`, secret, 200],
  ...READ_CASES("/api/events", "/api/events?limit=5000"),
  [`events stored`, () => app, "GET", "/api/events?format=stored", secret, 200],
  ["stream success", endingStreams, "GET", "/api/events/stream?after=0", secret, 200],
  ["stream business failure", () => app, "GET", "/api/events/stream?limit=5", secret, 200],
  ["stream bad Host", () => app, "GET", "/api/events/stream", secret, 400],
  ["stream no secret", () => app, "GET", "/api/events/stream", {}, 401],
  ["stream other method", () => app, "POST", "/api/events/stream", secret, 405],
  ["stream throttled", () => throttled, "GET", "/api/events/stream", secret, 429],
  ["stream limit reached", streamsFull, "GET", "/api/events/stream", secret, 429],
  ["stream database fails", () => broken, "GET", "/api/events/stream", secret, 500],
  ["stream database down", () => unavailable, "GET", "/api/events/stream", secret, 503],
  ["stream service stopping", streamsStopped, "GET", "/api/events/stream", secret, 503],
  ...READ_CASES("/api/stages", "/api/stages").filter(([, , , , , status]) => status !== 500 && status !== 503),
  ["healthz", () => app, "GET", "/healthz", {}, 200],
  ["healthz bad Host", () => app, "GET", "/healthz", {}, 400],
  ["healthz other method", () => app, "POST", "/healthz", {}, 405],
  ["readyz", () => app, "GET", "/readyz", {}, 200],
  ["readyz not ready", () => notReady, "GET", "/readyz", {}, 503],
  ["readyz other method", () => app, "DELETE", "/readyz", {}, 405],
  ["readyz bad Host", () => app, "GET", "/readyz", {}, 400],
  ["readyz check fails", () => readinessFails, "GET", "/readyz", {}, 500],
  ["metrics", () => app, "GET", "/metrics", secret, 200],
  ["metrics by bearer", () => app, "GET", "/metrics", { headers: { authorization: `Bearer ${TEST_SECRET}` } }, 200],
  ["metrics no secret", () => app, "GET", "/metrics", {}, 401],
  ["metrics other method", () => app, "POST", "/metrics", secret, 405],
  ["metrics throttled", () => throttled, "GET", "/metrics", secret, 429],
  ["metrics bad Host", () => app, "GET", "/metrics", secret, 400],
  ["metrics database fails", () => broken, "GET", "/metrics", secret, 500],
  ["verification started", () => app, "POST", VERIFICATIONS, secret, 200],
  ["verification refused", () => app, "POST", VERIFICATIONS, update({ expectHead: "1523" }), 200],
  ["verification by the auditor", () => app, "POST", VERIFICATIONS, update({}, { "x-internal-secret": AUDITOR_SECRET }), 200],
  ["verification body not JSON", () => app, "POST", VERIFICATIONS, { headers: JSON_HEADERS, body: "{" }, 400],
  ["verification no secret", () => app, "POST", VERIFICATIONS, {}, 401],
  ["verification other method", () => app, "DELETE", VERIFICATIONS, secret, 405],
  ["verification body too large", () => app, "POST", VERIFICATIONS, update({ expectHead: "长".repeat(70_000) }), 413],
  ["verification not JSON content", () => app, "POST", VERIFICATIONS, { headers: { ...JSON_HEADERS, "content-type": "text/plain" }, body: "{}" }, 415],
  ["verification throttled", () => throttled, "POST", VERIFICATIONS, secret, 429],
  ["verification progress", () => auditing, "GET", `${VERIFICATIONS}/doc-job-1`, secret, 200],
  ["verification unknown", () => auditing, "GET", `${VERIFICATIONS}/no-such-job`, secret, 200],
  ["verification progress bad Host", () => auditing, "GET", `${VERIFICATIONS}/doc-job-1`, secret, 400],
  ["verification progress no secret", () => auditing, "GET", `${VERIFICATIONS}/doc-job-1`, {}, 401],
  ["verification progress other method", () => auditing, "PUT", `${VERIFICATIONS}/doc-job-1`, secret, 405],
  ["verification progress throttled", () => throttled, "GET", `${VERIFICATIONS}/doc-job-1`, secret, 429],
];

/** The headers the service may send that a client reads, by their documented names. */
const MEANINGFUL_HEADERS = ["X-Request-Id", "ETag", "Idempotent-Replayed", "Allow", "Retry-After", "X-Dry-Run"];

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addFormat("int64", { type: "number", validate: Number.isInteger });

describe("every answer of every route is described by the document", () => {
  test.each(CASES)("%s", async (name, appOf, method, path, init, status) => {
    const host = name.endsWith("bad Host") ? "a!b" : "localhost";
    const response = await appOf().handle(new Request(`http://${host}${path}`, { method, ...init }));
    expect({ name, status: response.status }).toEqual({ name, status });
    const documented = documentedResponse(doc, method, path.split("?")[0]!, status);
    expect({ name, documented: documented !== undefined }).toEqual({ name, documented: true });
    const mediaType = response.headers.get("content-type")!;
    // One of the documented media types (the stream's 200 is text/event-stream, or JSON when its parameters are refused).
    const mediaTypes = Object.keys(documented!.content);
    expect({ name, mediaType: mediaTypes.includes(mediaType) ? mediaType : mediaTypes }).toEqual({ name, mediaType });
    const schema = documented!.content[mediaType].schema;
    const text = await response.text();
    const value = mediaType.startsWith("application/json") ? JSON.parse(text) : text;
    const validate = ajv.compile(schema);
    expect({ name, errors: validate(value) ? null : validate.errors }).toEqual({ name, errors: null });
    const sent = MEANINGFUL_HEADERS.filter((header) => response.headers.has(header));
    expect(sent).toContain("X-Request-Id");
    expect({ name, undocumented: sent.filter((header) => !(header in (documented!.headers ?? {}))) }).toEqual({ name, undocumented: [] });
  });

  test("the cases cover every documented operation and status but the 500s no stand-in can cause", () => {
    const covered = new Set(CASES.map(([, , method, path, , status]) => `${templateOf(doc, path.split("?")[0]!)} ${status === 405 ? "*" : method.toLowerCase()} ${status}`));
    const missing: string[] = [];
    for (const [template, operations] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const status of Object.keys(operation.responses)) {
          const key = `${template} ${status === "405" ? "*" : method} ${status}`;
          if (!covered.has(key)) missing.push(key);
        }
      }
    }
    // The dictionary, liveness and the verification jobs read nothing a stand-in could break when they answer
    // (a job reads in the background): their 500 is the catch-all any route has.
    expect(missing.sort()).toEqual(["/api/audit/verifications post 500", "/api/audit/verifications/{id} get 500", "/api/stages get 500", "/healthz get 500"]);
  });
});
