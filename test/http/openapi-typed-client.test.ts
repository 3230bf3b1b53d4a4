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
import { fullApp, servedDocument, type Json } from "../support/openapi-document";
import { openTestBackend, type TestBackend } from "../support/test-backend";
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

/** A directory holding the client, its tsconfig and the types generated from `document`. */
function generatedClient(document: Json): string {
  const dir = mkdtempSync(join(tmpdir(), "typed-client-"));
  dirs.push(dir);
  for (const file of ["client.ts", "tsconfig.json"]) copyFileSync(join(source, file), join(dir, file));
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "openapi.json"), JSON.stringify(document));
  const generate = Bun.spawnSync(
    ["node", "--import", join(source, "use-typescript5.mjs"), join(root, "node_modules/openapi-typescript/bin/cli.js"), join(dir, "openapi.json"), "-o", join(dir, "openapi-schema.d.ts")],
    { cwd: root },
  );
  if (generate.exitCode !== 0) throw new Error(`openapi-typescript failed: ${generate.stderr.toString()}`);
  return dir;
}

/** The lines of the client that hold `text`, as tsc names them ("client.ts(25,"). */
const clientLines = (text: string) =>
  readFileSync(join(source, "client.ts"), "utf8")
    .split("\n")
    .flatMap((line, index) => (line.includes(text) ? [`client.ts(${index + 1},`] : []));

/** tsc over the client and the generated types: its exit code and what it reported. */
function typeCheck(dir: string): { exitCode: number; output: string } {
  const check = Bun.spawnSync([process.execPath, join(root, "node_modules/typescript/bin/tsc"), "-p", join(dir, "tsconfig.json")], { cwd: dir });
  return { exitCode: check.exitCode, output: `${check.stdout.toString()}${check.stderr.toString()}` };
}

beforeAll(async () => {
  backend = await openTestBackend();
  app = fullApp(backend);
  doc = await servedDocument(app);
});

describe("a client generated from the served document", () => {
  let dir: string;
  beforeAll(() => {
    dir = generatedClient(doc);
  }, GENERATE_AND_CHECK);

  test("type-checks: every route, every accepted input form, every answer narrowed by its code", () => {
    const result = typeCheck(dir);
    expect(result.output).toBe("");
    expect(result.exitCode).toBe(0);
  }, GENERATE_AND_CHECK);

  test("gets from the service what its types promise", async () => {
    const { callEveryRoute } = (await import(join(dir, "client.ts"))) as { callEveryRoute: (fetch: (request: Request) => Promise<Response>, secret: string, code: string) => Promise<Json> };
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

describe("the check fails when the document drifts from the service", () => {
  test("a request form the service accepts but the document no longer does: the client no longer compiles", () => {
    const drifted = structuredClone(doc);
    const fields = drifted.paths["/api/opportunities/integration/update"].put.requestBody.content["application/json"].schema.properties;
    fields.omsPushTime = { type: "string", nullable: true };
    const result = typeCheck(generatedClient(drifted));
    expect(result.exitCode).not.toBe(0);
    expect(clientLines("omsPushTime: 1777520430000").some((line) => result.output.includes(line))).toBe(true);
  }, GENERATE_AND_CHECK);

  test("a route the client calls missing from the document: the client no longer compiles", () => {
    const drifted = structuredClone(doc);
    delete drifted.paths["/api/stages"];
    const result = typeCheck(generatedClient(drifted));
    expect(result.exitCode).not.toBe(0);
    expect(clientLines('client.GET("/api/stages")').some((line) => result.output.includes(line))).toBe(true);
  }, GENERATE_AND_CHECK);
});
