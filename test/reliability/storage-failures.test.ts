import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { verifyStore } from "../../src/audit/verify-store";
import type { App } from "../../src/http/app";
import type { ServiceStore } from "../../src/service-store";
import { StorageUnavailableError } from "../../src/storage-errors";
import { CREATE_PATH, JSON_UTF8, UPDATE_PATH, expectFailure, expectSuccess, readPath, type Answer } from "../http/http-client";
import { sqliteTables } from "../support/stored-tables";
import { META, afterProjectionWrite, appFor, callApp, createCommand, eventCount, idempotencyKeysOf, openReadOnly, sendTo, useTempService } from "./reliability-support";

// When the database cannot take a write (read-only file, lock held too long, disk full, I/O error) the answer is
// HTTP 503 with a Chinese message and Retry-After, nothing is half-written, and the service recovers by itself
// once the cause is gone.
// SQLite only: each failure is made with SQLite's own means (a read-only connection, PRAGMA query_only,
// busy_timeout, max_page_count). The PostgreSQL failures are in test/storage/postgres-faults.test.ts and
// test/e2e/postgres-outage.test.ts.

const READ_ONLY = "数据库当前为只读，本次修改未保存，请稍后重试";
const BUSY = "数据库繁忙，本次修改未保存，请稍后重试";
const FULL = "数据库磁盘空间已满，本次修改未保存，请稍后重试";
const IO = "数据库暂时无法写入，本次修改未保存，请稍后重试";

const createBody = (code: string, extra: Record<string, unknown> = {}) => ({
  opportunityCode: code,
  opportunityName: `商机 ${code}`,
  endCustomerName: "某市大数据局",
  ...extra,
});

function expectUnavailable(answer: Answer, message: string): void {
  expectFailure(answer, 503, message);
  expect(answer.contentType).toBe(JSON_UTF8);
  expect(answer.headers.get("retry-after")).toBe("5");
}

/** Everything a write could have touched, to compare before and after a failure. */
async function stateOf(db: Database) {
  const tables = sqliteTables(db);
  return {
    events: await eventCount(tables),
    rows: JSON.stringify(db.query("SELECT * FROM opportunities ORDER BY id").all()),
    keys: await idempotencyKeysOf(tables),
  };
}

const temp = useTempService();

/** The service with an app that records what it reports as storage failures and as unexpected errors. */
function openWithApp(): { s: ServiceStore; app: App; unavailable: StorageUnavailableError[]; unexpected: unknown[] } {
  const s = temp.open();
  const unavailable: StorageUnavailableError[] = [];
  const unexpected: unknown[] = [];
  const app = appFor(s, { onStorageUnavailable: (error) => unavailable.push(error), onUnexpectedError: (error) => unexpected.push(error) });
  return { s, app, unavailable, unexpected };
}

describe("read-only database", () => {
  test("writes answer 503 with a Chinese message and Retry-After, reads go on, nothing is half-written", async () => {
    // Running as root, `chmod 0444` would not stop SQLite from writing: open the file read-only instead, which is
    // what SQLite falls back to for a file it may not write.
    const first = temp.open();
    expectSuccess(await callApp(appFor(first), "POST", CREATE_PATH, { body: createBody("OPP-RO", { amount: 1 }) }));
    temp.close(first);
    const readOnly = openReadOnly(temp.path);
    const before = await stateOf(readOnly.db);
    const unavailable: StorageUnavailableError[] = [];
    try {
      const app = appFor(readOnly, { onStorageUnavailable: (error) => unavailable.push(error) });
      const responses = await Promise.all([
        sendTo(app, "POST", CREATE_PATH, { body: createBody("OPP-RO-NEW"), headers: { "idempotency-key": "ro-key" } }),
        sendTo(app, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-RO", amount: 2 } }),
        sendTo(app, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-RO", description: "只读时的修改" }, headers: { "if-match": '"1"' } }),
      ]);
      for (const response of responses) {
        const text = await response.text();
        expect({ status: response.status, text, retryAfter: response.headers.get("retry-after") }).toEqual({
          status: 503,
          text: JSON.stringify({ code: "-1", msg: READ_ONLY, data: null }),
          retryAfter: "5",
        });
        expect(response.headers.get("content-type")).toBe(JSON_UTF8);
      }
      expect(unavailable.map((error) => error.sqliteCode.startsWith("SQLITE_READONLY"))).toEqual([true, true, true]);
      expect(await stateOf(readOnly.db)).toEqual(before);

      const read = await callApp(app, "GET", readPath("OPP-RO"));
      expect(expectSuccess(read)).toMatchObject({ amount: 1, version: 1 });
      expect(read.headers.get("etag")).toBe('"1"');
    } finally {
      readOnly.close();
    }

    // Writable again: the store is whole, and the failed request's key was never recorded, so a retry applies it.
    const again = temp.open();
    expect(verifyStore(again.db)).toMatchObject({ ok: true, events: 1, opportunities: 1, problem: null });
    expect(await stateOf(again.db)).toEqual(before);
    const retry = await callApp(appFor(again), "POST", CREATE_PATH, { body: createBody("OPP-RO-NEW"), headers: { "idempotency-key": "ro-key" } });
    expect(expectSuccess(retry)).toBe(2);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
  });

  test("a connection that turns read-only while serving answers 503, and recovers by itself when it is writable again", async () => {
    const { s, app, unavailable } = openWithApp();
    expectSuccess(await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-QO") }));
    const before = await stateOf(s.db);
    s.db.run("PRAGMA query_only = ON");
    const refused = await callApp(app, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-QO", amount: 3 }, headers: { "idempotency-key": "qo-key" } });
    expectUnavailable(refused, READ_ONLY);
    expect(unavailable).toHaveLength(1);
    expect(await stateOf(s.db)).toEqual(before);

    s.db.run("PRAGMA query_only = OFF");
    const retry = await callApp(app, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-QO", amount: 3 }, headers: { "idempotency-key": "qo-key" } });
    expect(expectSuccess(retry)).toBe(1);
    expect(retry.headers.get("etag")).toBe('"2"');
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    expect(s.opportunities.find("OPP-QO")).toMatchObject({ amount: 3, version: 2 });
  });
});

describe("lock held too long", () => {
  test("another connection holding the write lock: 503 '数据库繁忙', and the write goes through once it lets go", async () => {
    const { s, app, unavailable } = openWithApp();
    expectSuccess(await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-BUSY") }));
    // Shorten the wait for the lock so the test does not sit out the default five seconds.
    s.db.run("PRAGMA busy_timeout = 50");
    const before = await stateOf(s.db);
    const other = new Database(temp.path);
    try {
      other.run("BEGIN IMMEDIATE");
      const refused = await callApp(app, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-BUSY", amount: 4 } });
      expectUnavailable(refused, BUSY);
      expect(unavailable.map((error) => error.sqliteCode)).toEqual(["SQLITE_BUSY"]);
      other.run("ROLLBACK");
    } finally {
      other.close();
    }
    expect(await stateOf(s.db)).toEqual(before);
    expect(expectSuccess(await callApp(app, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-BUSY", amount: 4 } }))).toBe(1);
    expect(s.opportunities.find("OPP-BUSY")).toMatchObject({ amount: 4, version: 2 });
  });
});

describe("I/O error at commit", () => {
  test("every request of the failed batch answers 503 and nothing of it is written", async () => {
    const { s, app } = openWithApp();
    expectSuccess(await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-IO") }));
    const before = await stateOf(s.db);
    const restore = afterProjectionWrite(s, () => {
      throw Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR" });
    });
    const answers = await Promise.all([
      callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-IO-2") }),
      callApp(app, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IO", amount: 5 } }),
    ]);
    for (const answer of answers) expectUnavailable(answer, IO);
    expect(await stateOf(s.db)).toEqual(before);
    restore();
    expect(expectSuccess(await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-IO-2") }))).toBe(2);
  });
});

describe("disk full", () => {
  // SQLite's max_page_count makes the database file "full" at its current size, as a full disk would.
  const bigText = "满".repeat(1_000);
  const fill = (db: Database) => {
    const pages = db.query<{ page_count: number }, []>("PRAGMA page_count").get()!.page_count;
    db.query(`PRAGMA max_page_count = ${pages}`).get();
  };

  test("nothing is half-written, no success is answered for what was not stored, and the service recovers once there is room", async () => {
    const { s, app } = openWithApp();
    expectSuccess(await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-FULL", { description: bigText }) }));
    fill(s.db);
    const before = await stateOf(s.db);
    const answers = await Promise.all(
      ["OPP-FULL-1", "OPP-FULL-2", "OPP-FULL-3"].map((code) => callApp(app, "POST", CREATE_PATH, { body: createBody(code, { description: bigText }) })),
    );
    for (const answer of answers) {
      expect(answer.json.code).toBe("-1");
      expect(answer.status).toBeGreaterThanOrEqual(500);
    }
    expect(await stateOf(s.db)).toEqual(before);
    expect(verifyStore(s.db)).toMatchObject({ ok: true, events: 1, problem: null });

    s.db.query("PRAGMA max_page_count = 1073741823").get();
    expect(expectSuccess(await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-FULL-1", { description: bigText }) }))).toBe(2);
  });

  test("a write on a full disk answers 503 with the disk-full message and Retry-After", async () => {
    const { s, app, unavailable, unexpected } = openWithApp();
    expectSuccess(await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-FULL", { description: bigText }) }));
    fill(s.db);
    const answer = await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-FULL-4", { description: bigText }) });
    expect({ status: answer.status, msg: answer.json.msg, retryAfter: answer.headers.get("retry-after") }).toEqual({
      status: 503,
      msg: FULL,
      retryAfter: "5",
    });
    expect(unavailable.map((error) => error.sqliteCode.startsWith("SQLITE_FULL"))).toEqual([true]);
    expect(unexpected).toEqual([]);
  });

  test("in the writer, a full disk rejects with StorageUnavailableError (SQLITE_FULL), not a savepoint error", async () => {
    const s = temp.open();
    await s.writer.execute(createCommand("OPP-FULL", { description: bigText }), META);
    fill(s.db);
    const settled = await Promise.allSettled([s.writer.execute(createCommand("OPP-FULL-5", { description: bigText }), META)]);
    expect(settled[0]!.status).toBe("rejected");
    const reason = (settled[0] as PromiseRejectedResult).reason as Error;
    expect({ name: reason.name, message: reason.message }).toEqual({
      name: "StorageUnavailableError",
      message: "database unavailable: SQLITE_FULL",
    });
    expect(await eventCount(s.tables)).toBe(1);
  });
});
