/**
 * A generated client against the service, as an integrator builds one: TypeScript types generated from the
 * served document with openapi-typescript, and a small client written against them (typed-client/client.ts,
 * through openapi-fetch) that calls every route. The client must type-check against the generated types and
 * then get the answers its types promise from the real app. A document that stops describing the service (a
 * route or a field renamed, an input form the service takes no longer accepted) fails the type check.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { App } from "../../src/http/app";
import { documentOnly, documentOnSqlite, fullApp, servedDocument, type Json } from "../support/openapi-document";
import { openTestBackend, TEST_BACKEND, type TestBackend } from "../support/test-backend";
import { TEST_SECRET } from "../support/test-service";

const root = resolve(import.meta.dir, "../..");
// Generating types (node) and type-checking (tsc) take 1-2 s each alone, several times that on a busy shared
// machine with the suites running in parallel: a hang guard, not a speed check.
const GENERATE_AND_CHECK = 60_000;
const source = join(import.meta.dir, "typed-client");
let backend: TestBackend;
let app: App;
let doc: Json;
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await backend?.dispose();
});

/** A directory holding the client, its tsconfig and the document; the types are generated into it by `generateTypes`. */
function clientDir(document: Json): string {
  const dir = mkdtempSync(join(tmpdir(), "typed-client-"));
  dirs.push(dir);
  for (const file of ["client.ts", "tsconfig.json"]) copyFileSync(join(source, file), join(dir, file));
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "openapi.json"), JSON.stringify(document));
  return dir;
}

/**
 * openapi-typescript over each directory's openapi.json into its openapi-schema.d.ts, in one Node.js process
 * (typed-client/generate.mjs: what the command line writes for each, TypeScript loaded once).
 */
async function generateTypes(dirs: string[]): Promise<void> {
  const generate = Bun.spawn(
    ["node", "--import", join(source, "use-typescript5.mjs"), join(source, "generate.mjs"), ...dirs.flatMap((dir) => [join(dir, "openapi.json"), join(dir, "openapi-schema.d.ts")])],
    { cwd: root, stdout: "pipe", stderr: "pipe" },
  );
  const [exitCode, stderr] = await Promise.all([generate.exited, new Response(generate.stderr).text()]);
  if (exitCode !== 0) throw new Error(`openapi-typescript failed: ${stderr}`);
}

/** The lines of the client that hold `text`, as tsc names them ("client.ts(25,"). */
const clientLines = (text: string) =>
  readFileSync(join(source, "client.ts"), "utf8")
    .split("\n")
    .flatMap((line, index) => (line.includes(text) ? [`client.ts(${index + 1},`] : []));

/** tsc over the client and the generated types: its exit code and what it reported. */
async function typeCheck(dir: string): Promise<{ exitCode: number; output: string }> {
  const check = Bun.spawn([process.execPath, join(root, "node_modules/typescript/bin/tsc"), "-p", join(dir, "tsconfig.json")], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [exitCode, stdout, stderr] = await Promise.all([check.exited, new Response(check.stdout).text(), new Response(check.stderr).text()]);
  return { exitCode, output: `${stdout}${stderr}` };
}

type Checked = { exitCode: number; output: string };
/**
 * The client type-checked against the types of the served document and of two drifted copies of it: generated
 * together, checked side by side (each tsc has its own directory), once for the tests below that read them.
 */
let checks: Promise<{ served: Checked; requestFormDropped: Checked; routeDropped: Checked }> | undefined;
function checked() {
  checks ??= (async () => {
    const requestFormDropped = structuredClone(doc);
    const fields = requestFormDropped.paths["/api/opportunities/integration/update"].put.requestBody.content["application/json"].schema.properties;
    fields.omsPushTime = { type: "string", nullable: true };
    const routeDropped = structuredClone(doc);
    delete routeDropped.paths["/api/stages"];
    const [servedDir, requestFormDir, routeDir] = [doc, requestFormDropped, routeDropped].map(clientDir);
    await generateTypes([servedDir!, requestFormDir!, routeDir!]);
    const [served, requestForm, route] = await Promise.all([servedDir!, requestFormDir!, routeDir!].map(typeCheck));
    return { served: served!, requestFormDropped: requestForm!, routeDropped: route! };
  })();
  return checks;
}

beforeAll(async () => {
  backend = await openTestBackend();
  app = fullApp(backend);
  doc = await servedDocument(app);
});

// The tests of the generated types read the document alone; they run in the SQLite run (see documentOnly).
test.skipIf(TEST_BACKEND === "sqlite")(`the document served over ${TEST_BACKEND} is the one the SQLite run checks`, async () => {
  expect(doc).toEqual(await documentOnSqlite());
});

describe("a client generated from the served document", () => {
  documentOnly.test("type-checks: every route, every accepted input form, every answer narrowed by its code", async () => {
    const result = (await checked()).served;
    expect(result.output).toBe("");
    expect(result.exitCode).toBe(0);
  }, GENERATE_AND_CHECK);

  test("gets from the service what its types promise", async () => {
    // The client as written (its import of the generated types is a type import, gone at run time): the same
    // file the type check compiles against the generated types.
    const { callEveryRoute } = (await import(join(source, "client.ts"))) as { callEveryRoute: (fetch: (request: Request) => Promise<Response>, secret: string, code: string) => Promise<Json> };
    const seen = await callEveryRoute((request) => app.handle(request), TEST_SECRET, "TYPED-001");
    expect(seen).toEqual({
      createdId: expect.any(Number),
      updatedId: seen.createdId,
      etag: '"2"',
      dryRun: { version: 3, amount: { from: 1500000, to: 1600000 }, header: "true" },
      batch: { succeeded: 1, failed: 1, results: [seen.createdId, "商机不存在"] },
      record: { status: "won", version: 3, confidencePct: "A", omsPushTime: "2026-04-30T11:40:30+08:00" },
      firstVersion: 1,
      missingHistory: "商机不存在",
      history: [
        { version: 1, type: "OpportunityCreated", fields: ["endCustomerName", "opportunityName", "amount", "salesExpansionId", "archived", "pushedToOms", "status"] },
        { version: 2, type: "OpportunityUpdated", fields: expect.arrayContaining(["omsPushTime", "confidencePct", "status", "stage", "preSalesId"]) },
        { version: 3, type: "OpportunityUpdated", fields: ["description"] },
      ],
      stages: expect.arrayContaining(["won"]),
      feedHead: expect.any(Number),
      storedKeys: [["position", "event_id", "stream_id", "version", "type", "schema_version", "data", "metadata", "recorded_at", "prev_hash", "hash"]],
      health: "ok",
      ready: "ready",
      metricsHasEvents: true,
      denied: [401, "内部接口鉴权失败"],
    });
  });
});

documentOnly.describe("the check fails when the document drifts from the service", () => {
  test("a request form the service accepts but the document no longer does: the client no longer compiles", async () => {
    const result = (await checked()).requestFormDropped;
    expect(result.exitCode).not.toBe(0);
    expect(clientLines("omsPushTime: 1777520430000").some((line) => result.output.includes(line))).toBe(true);
  }, GENERATE_AND_CHECK);

  test("a route the client calls missing from the document: the client no longer compiles", async () => {
    const result = (await checked()).routeDropped;
    expect(result.exitCode).not.toBe(0);
    expect(clientLines('client.GET("/api/stages")').some((line) => result.output.includes(line))).toBe(true);
  }, GENERATE_AND_CHECK);
});
