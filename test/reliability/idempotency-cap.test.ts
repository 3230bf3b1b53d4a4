import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { SERVE_HELP } from "../../src/cli/serve";
import { createDocs, updateDocs } from "../../src/http/openapi";
import type { IdempotencyClaim } from "../../src/idempotency";
import type { WriterOptions } from "../../src/opportunity-writer";
import { schemaVersionOf } from "../../src/storage/sqlite/schema";
import { loadStageDictionary } from "../../src/stage-dictionary";
import { WriteWorkerClient } from "../../src/write-worker-client";
import { UPDATE_PATH, expectFailure, expectSuccess } from "../http/http-client";
import type { StoredTables } from "../support/stored-tables";
import { sqliteOnly, type TestBackend } from "../support/test-backend";
import { META, appFor, callApp, createCommand, eventCount, idempotencyKeysOf, updateCommand, useTempService, useTestDatabase } from "./reliability-support";

// Issue 11, item 10: unique keys on requests that fail were all stored, without limit. Each client may hold a
// capped number of unexpired keys; a new key beyond the cap is refused with a clear -1 and nothing is stored.
// Expired keys stop counting at once, and pruning deletes them in small transactions between batches.

const HOUR = 3_600_000;
const LIMIT = (max: number, hours = 24) => `Idempotency-Key 数量已达上限（每个调用方 ${hours} 小时内最多 ${max} 个），本次未做任何修改，请稍后重试`;
const claim = (key: string, client = "oms"): IdempotencyClaim => ({ client, key, fingerprint: `fp-${key}` });
/** An update of an opportunity that does not exist: refused (商机不存在), and its key is stored all the same. */
const missing = (n: number) => updateCommand(`OPP-MISSING-${n}`, { amount: n });
const keyCounts = async (tables: StoredTables) =>
  (await tables.select<{ client: string; keys: unknown }>("SELECT client, SUM(keys) AS keys FROM idempotency_key_counts GROUP BY client")).map(({ client, keys }) => ({ client, keys: Number(keys) }));
const START = Date.UTC(2026, 3, 1, 8, 0, 0, 0);

const temp = useTestDatabase();

/** A service whose clock the test moves; starts on the hour, the start of a key-count bucket. */
async function clockedService(writer: WriterOptions): Promise<{ service: TestBackend; at: (ms: number) => void; start: number }> {
  let now = START;
  const service = await temp.open({ now: () => new Date(now), writer });
  return { service, at: (ms) => (now = START + ms), start: START };
}

describe("the cap on keys held per client", () => {
  test("beyond the cap a new key gets the limit refusal: no key, no count, no event; held keys still replay", async () => {
    const service = await temp.open({ writer: { idempotencyMaxKeysPerClient: 3 } });
    for (let n = 1; n <= 3; n++) expect(await service.writer.execute(missing(n), META, claim(`k-${n}`))).toMatchObject({ ok: false, reason: "not_found" });
    const keysBefore = await idempotencyKeysOf(service.tables);

    const refused = await service.writer.execute(createCommand("OPP-OVER"), META, claim("k-4"));
    expect(refused).toEqual({ ok: false, reason: "idempotency_limit", message: LIMIT(3) });
    expect(await idempotencyKeysOf(service.tables)).toEqual(keysBefore);
    expect(await keyCounts(service.tables)).toEqual([{ client: "oms", keys: 3 }]);
    expect(await eventCount(service.tables)).toBe(0);
    expect(await service.storage.findOpportunity("OPP-OVER")).toBeNull();

    // A retry with a key already held is answered as before; so is a write without a key, and another client.
    expect(await service.writer.execute(missing(2), META, claim("k-2"))).toMatchObject({ ok: false, reason: "not_found", replayed: true });
    expect(await service.writer.execute(createCommand("OPP-NO-KEY"), META)).toMatchObject({ ok: true, id: 1 });
    expect(await service.writer.execute(createCommand("OPP-OTHER"), META, claim("k-1", "bidding"))).toMatchObject({ ok: true, id: 2 });
  });

  test("requests of one batch are counted one after another: only those within the cap are kept", async () => {
    const service = await temp.open({ writer: { idempotencyMaxKeysPerClient: 2 } });
    const results = await Promise.all([1, 2, 3, 4].map((n) => service.writer.execute(createCommand(`OPP-B${n}`), META, claim(`b-${n}`))));
    expect(results.map((result) => (result.ok ? "ok" : result.reason))).toEqual(["ok", "ok", "idempotency_limit", "idempotency_limit"]);
    expect((await idempotencyKeysOf(service.tables)).map((row) => row.key)).toEqual(["b-1", "b-2"]);
    expect(await eventCount(service.tables)).toBe(2);
  });

  test("over HTTP the refusal is the envelope's -1 with HTTP 200, like the other refusals of a key", async () => {
    const service = await temp.open({ writer: { idempotencyMaxKeysPerClient: 1 } });
    const app = appFor(service);
    const headers = (key: string) => ({ "idempotency-key": key });
    expectFailure(await callApp(app, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-NONE", amount: 1 }, headers: headers("h-1") }), 200, "商机不存在");
    const over = await callApp(app, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-NONE", amount: 2 }, headers: headers("h-2") });
    expectFailure(over, 200, LIMIT(1));
    expect(over.headers.get("idempotent-replayed")).toBeNull();
    expect(await idempotencyKeysOf(service.tables)).toEqual([{ client: "oms", key: "h-1" }]);
    // Without a key the same client is served.
    expect(expectSuccess(await callApp(app, "POST", "/api/opportunities/integration/create", { body: { opportunityCode: "OPP-H", opportunityName: "商机", endCustomerName: "某市大数据局" } }))).toBe(1);
  });

  test("the count is in the database: it holds after a restart and for a second connection writing beside the first", async () => {
    const first = await temp.open({ writer: { idempotencyMaxKeysPerClient: 2 } });
    expect((await first.writer.execute(missing(1), META, claim("r-1"))).ok).toBe(false);
    const beside = await temp.open({ writer: { idempotencyMaxKeysPerClient: 2 } });
    expect((await beside.writer.execute(missing(2), META, claim("r-2"))).ok).toBe(false);
    expect(await first.writer.execute(missing(3), META, claim("r-3"))).toMatchObject({ reason: "idempotency_limit" });
    await temp.close(first);
    await temp.close(beside);
    const restarted = await temp.open({ writer: { idempotencyMaxKeysPerClient: 2 } });
    expect(await restarted.writer.execute(missing(3), META, claim("r-3"))).toMatchObject({ reason: "idempotency_limit" });
    expect((await idempotencyKeysOf(restarted.tables)).map((row) => row.key)).toEqual(["r-1", "r-2"]);
  });

  test("keys within the TTL count; once expired they stop counting, before any pruning", async () => {
    const { service, at } = await clockedService({ idempotencyTtlHours: 1, idempotencyMaxKeysPerClient: 2 });
    await service.writer.execute(missing(1), META, claim("t-1"));
    at(30 * 60_000);
    await service.writer.execute(missing(2), META, claim("t-2"));
    at(59 * 60_000);
    expect(await service.writer.execute(missing(3), META, claim("t-3"))).toMatchObject({ reason: "idempotency_limit", message: LIMIT(2, 1) });
    // Both keys' hour is wholly past the TTL: neither counts, though both are still stored (and replayed).
    at(2 * HOUR);
    expect(await service.writer.execute(missing(3), META, claim("t-3"))).toMatchObject({ ok: false, reason: "not_found" });
    expect((await idempotencyKeysOf(service.tables)).map((row) => row.key)).toEqual(["t-1", "t-2", "t-3"]);
    expect(await service.writer.execute(missing(1), META, claim("t-1"))).toMatchObject({ replayed: true });
  });

  test("the OpenAPI document of both write routes states the cap and its refusal", () => {
    for (const docs of [updateDocs(loadStageDictionary(undefined)), createDocs(loadStageDictionary(undefined))]) {
      const header = (docs.parameters as { name: string; description: string }[]).find((parameter) => parameter.name === "Idempotency-Key");
      expect(header?.description).toContain(LIMIT(100_000));
    }
  });

  test("serve --help names the setting", () => {
    expect(SERVE_HELP).toMatch(/--idempotency-max-keys VALUE\s+most Idempotency-Keys one client may hold .*\(env IDEMPOTENCY_MAX_KEYS, default 100000\)/);
  });
});

describe("pruning expired keys", () => {
  test("deletes every expired key in chunks and the counts of wholly expired hours; unexpired keys stay", async () => {
    const { service, at, start } = await clockedService({ idempotencyPruneChunk: 10 });
    for (let n = 1; n <= 25; n++) await service.writer.execute(missing(n), META, claim(`old-${n}`));
    at(3 * HOUR);
    await service.writer.execute(missing(26), META, claim("new-1"));

    expect(await service.writer.pruneIdempotencyKeys(new Date(start + 2 * HOUR))).toBe(25);
    expect(await idempotencyKeysOf(service.tables)).toEqual([{ client: "oms", key: "new-1" }]);
    expect(await keyCounts(service.tables)).toEqual([{ client: "oms", keys: 1 }]);
    expect(await service.writer.pruneIdempotencyKeys(new Date(start + 2 * HOUR))).toBe(0);
  });

  test("a write queued while pruning runs is committed between chunks, not after the whole prune", async () => {
    const { service, at, start } = await clockedService({ idempotencyPruneChunk: 5 });
    for (let n = 1; n <= 40; n++) await service.writer.execute(missing(n), META, claim(`p-${n}`));
    at(2 * HOUR);
    const finished: string[] = [];
    const pruning = service.writer.pruneIdempotencyKeys(new Date(start + HOUR)).then((count) => finished.push(`prune ${count}`));
    const writing = service.writer.execute(createCommand("OPP-DURING"), META, claim("during")).then((result) => finished.push(`write ${result.ok}`));
    await Promise.all([pruning, writing]);
    expect(finished).toEqual(["write true", "prune 40"]);
    expect(await idempotencyKeysOf(service.tables)).toEqual([{ client: "oms", key: "during" }]);
  });
});

// The writer thread and the schema upgrade of a version-2 file are SQLite's own: these run in the SQLite run only.
sqliteOnly.describe("on a SQLite file", () => {
  let worker: WriteWorkerClient | undefined;
  const temp = useTempService({
    beforeClose: async () => {
      await worker?.close();
      worker = undefined;
    },
  });

  test("the writer thread applies the cap it is started with", async () => {
    const service = temp.open();
    worker = await WriteWorkerClient.start(temp.path, { idempotencyMaxKeysPerClient: 1 }, { writer: service.writer, isAlone: () => false });
    expect(await worker.execute(createCommand("OPP-WT1"), META, claim("w-1"))).toMatchObject({ ok: true });
    expect(await worker.execute(createCommand("OPP-WT2"), META, claim("w-2"))).toEqual({ ok: false, reason: "idempotency_limit", message: LIMIT(1) });
    expect(await eventCount(service.tables)).toBe(1);
  });

  test("a database of schema version 2 gets its keys counted at the upgrade, so the cap covers them", async () => {
    const start = START;
    const service = temp.open({ now: () => new Date(start) });
    for (let n = 1; n <= 3; n++) await service.writer.execute(missing(n), META, claim(`m-${n}`));
    temp.close(service);
    const old = new Database(temp.path);
    old.run("DROP TABLE idempotency_key_counts");
    for (const column of ["stream_id", "position", "appended"]) old.run(`ALTER TABLE idempotency_keys DROP COLUMN ${column}`);
    old.run("PRAGMA user_version = 2");
    old.close();

    const upgraded = temp.open({ now: () => new Date(start + HOUR / 2), writer: { idempotencyMaxKeysPerClient: 3 } });
    expect(schemaVersionOf(upgraded.db)).toBe(3);
    expect(await keyCounts(upgraded.tables)).toEqual([{ client: "oms", keys: 3 }]);
    expect(await upgraded.writer.execute(missing(4), META, claim("m-4"))).toMatchObject({ reason: "idempotency_limit" });
    const legacy = upgraded.db.query<{ stream_id: string | null; position: number | null }, []>("SELECT stream_id, position FROM idempotency_keys").all();
    expect(legacy).toEqual([1, 2, 3].map(() => ({ stream_id: null, position: null })));
  });
});
