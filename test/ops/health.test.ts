import { Database } from "bun:sqlite";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setLogLevel } from "../../src/log";
import { fileProbe, LOCK_HOLD_DOWN_MS, Readiness, readinessProblem, SPACE_TO_RECOVER, type StorageProbe } from "../../src/readiness";
import { StorageUnavailableError } from "../../src/storage-errors";
import { POSTGRES_SCHEMA_VERSION } from "../../src/storage/postgres/schema";
import { SCHEMA_VERSION } from "../../src/storage/sqlite/schema";
import { openServiceStore } from "../../src/service-store";
import { makeTempDir } from "../support/temp-dir";
import { sqliteOnly, TEST_BACKEND } from "../support/test-backend";
import { createBody, CREATE_PATH, startBackendOpsService, startOpsService, TEST_SECRET, type BackendOpsService, type OpsService } from "./ops-service";

// GET /healthz (always ok) and GET /readyz (200 when the database is open, writable and at the current schema
// version; 503 with the reason otherwise). Neither needs a secret.
// On both backends; the checks of the SQLite file itself (its WAL, its write lock, other connections to the
// file) and of the Readiness class (src/readiness.ts, SQLite's) are sqliteOnly.

const JSON_UTF8 = "application/json;charset=UTF-8";
// Request log lines are not what these tests look at (the threshold is process-wide: restored after).
beforeAll(() => setLogLevel("warn"));
afterAll(() => setLogLevel("info"));

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A service on a SQLite file, for the checks of the file itself and of the Readiness class. */
function service(options: Parameters<typeof startOpsService>[0] = {}): OpsService {
  const started = startOpsService(options);
  cleanups.push(() => started.dispose());
  return started;
}

/** A service on this run's backend (TEST_BACKEND), its readiness the storage's own, as serve wires it. */
async function backendService(): Promise<BackendOpsService> {
  const started = await startBackendOpsService();
  cleanups.push(() => started.dispose());
  return started;
}

/** The schema version this binary needs on this run's backend. */
const CURRENT_VERSION = TEST_BACKEND === "sqlite" ? SCHEMA_VERSION : POSTGRES_SCHEMA_VERSION;

/** Sets the schema version where the backend records it, from another connection (PostgreSQL) or the service's own (SQLite). */
function setSchemaVersion(svc: BackendOpsService, version: number): Promise<void> {
  return svc.kind === "sqlite" ? svc.tables.run(`PRAGMA user_version = ${version}`) : svc.tables.run("UPDATE schema_version SET version = ?", [version]);
}

async function answer(response: Response) {
  return { status: response.status, contentType: response.headers.get("content-type"), body: JSON.parse(await response.text()) as unknown };
}

const ready = { status: 200, contentType: JSON_UTF8, body: { code: "0", msg: "success", data: "ready" } };
const notReady = (reason: string) => ({ status: 503, contentType: JSON_UTF8, body: { code: "-1", msg: `服务未就绪: ${reason}`, data: null } });

describe("GET /healthz", () => {
  test.each([
    ["no secret", null],
    ["a wrong secret", "wrong-secret-0123456789abcdef"],
    ["the right secret", TEST_SECRET],
  ])("answers ok with %s", async (_name, secret) => {
    const svc = await backendService();
    expect(await answer(await svc.request("GET", "/healthz", { secret }))).toEqual({
      status: 200,
      contentType: JSON_UTF8,
      body: { code: "0", msg: "success", data: "ok" },
    });
  });

  test("stays ok when the database is not ready (liveness is not readiness)", async () => {
    const svc = await backendService();
    await setSchemaVersion(svc, CURRENT_VERSION + 1);
    expect((await svc.request("GET", "/healthz", { secret: null })).status).toBe(200);
    expect((await svc.request("GET", "/readyz", { secret: null })).status).toBe(503);
  });
});

describe("GET /readyz", () => {
  test("200 ready on an open, writable database at the current schema version, without a secret", async () => {
    const svc = await backendService();
    expect(await answer(await svc.request("GET", "/readyz", { secret: null }))).toEqual(ready);
    expect(await answer(await svc.request("GET", "/readyz", { secret: "wrong-secret-0123456789abcdef" }))).toEqual(ready);
  });

  sqliteOnly.test("the check leaves no transaction open and writes still work after it", async () => {
    const svc = service();
    for (let i = 0; i < 3; i++) expect((await svc.request("GET", "/readyz", { secret: null })).status).toBe(200);
    expect(svc.db.inTransaction).toBe(false);
    const created = await answer(await svc.request("POST", CREATE_PATH, { body: createBody("OPP-READY-1") }));
    expect(created.body).toEqual({ code: "0", msg: "success", data: 1 });
    // The write is visible to another connection, so it really committed.
    const other = new Database(svc.dbPath, { readonly: true });
    try {
      expect(other.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM events").get()!.n).toBe(1);
    } finally {
      other.close();
    }
  });

  test("503 naming both versions when the schema version is newer, and ready again once it is back", async () => {
    const svc = await backendService();
    await setSchemaVersion(svc, CURRENT_VERSION + 1);
    expect(await answer(await svc.request("GET", "/readyz", { secret: null }))).toEqual(
      notReady(`数据库结构版本为 ${CURRENT_VERSION + 1}，本程序需要 ${CURRENT_VERSION}`),
    );
    await setSchemaVersion(svc, CURRENT_VERSION);
    expect(await answer(await svc.request("GET", "/readyz", { secret: null }))).toEqual(ready);
  });

  test("503 when the schema version is older (a database the binary has not upgraded)", async () => {
    const svc = await backendService();
    await setSchemaVersion(svc, 0);
    expect(await answer(await svc.request("GET", "/readyz", { secret: null }))).toEqual(notReady(`数据库结构版本为 0，本程序需要 ${CURRENT_VERSION}`));
  });

  sqliteOnly.test("503 when the version is changed by another connection (another process upgraded the file)", async () => {
    const svc = service();
    const other = new Database(svc.dbPath);
    try {
      other.run(`PRAGMA user_version = ${SCHEMA_VERSION + 7}`);
    } finally {
      other.close();
    }
    const got = await answer(await svc.request("GET", "/readyz", { secret: null }));
    expect(got).toEqual(notReady(`数据库结构版本为 ${SCHEMA_VERSION + 7}，本程序需要 ${SCHEMA_VERSION}`));
  });

  sqliteOnly.test("503 'not writable' when the database's files refuse writes", async () => {
    const svc = service({ readiness: (store) => new Readiness(store.db, { freeBytes: () => 1e9, unwritable: () => "/data/opportunities.db: EPERM" }).problem() });
    expect(await answer(await svc.request("GET", "/readyz", { secret: null }))).toEqual(notReady("数据库不可写 (EACCES): /data/opportunities.db: EPERM"));
  });

  sqliteOnly.test("503 (not a 500) when the database has been closed", async () => {
    const dir = makeTempDir("ops-closed-");
    cleanups.push(dir.cleanup);
    const closed = openServiceStore(join(dir.path, "opportunities.db"));
    closed.close();
    const svc = service({ readiness: () => readinessProblem(closed.db) });
    const got = await answer(await svc.request("GET", "/readyz", { secret: null }));
    expect(got.status).toBe(503);
    expect(got.body).toMatchObject({ code: "-1", data: null });
    expect((got.body as { msg: string }).msg).toStartWith("服务未就绪: ");
  });
});

sqliteOnly.describe("readinessProblem", () => {
  test("null on a fresh store, a reason naming the versions otherwise", () => {
    const dir = makeTempDir("ops-readiness-");
    cleanups.push(dir.cleanup);
    const store = openServiceStore(join(dir.path, "opportunities.db"));
    cleanups.push(() => store.close());
    expect(readinessProblem(store.db)).toBeNull();
    store.db.run(`PRAGMA user_version = ${SCHEMA_VERSION + 2}`);
    expect(readinessProblem(store.db)).toBe(`数据库结构版本为 ${SCHEMA_VERSION + 2}，本程序需要 ${SCHEMA_VERSION}`);
    store.db.run(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  });

  test("a database file whose directory is writable is ready", () => {
    const dir = makeTempDir("ops-readiness-files-");
    cleanups.push(dir.cleanup);
    const path = join(dir.path, "opportunities.db");
    const store = openServiceStore(path);
    cleanups.push(() => store.close());
    expect(fileProbe(path).unwritable()).toBeNull();
    expect(fileProbe(join(dir.path, "no-such-dir", "x.db")).unwritable()).toMatch(/no-such-dir\/x\.db: ENOENT$/);
    expect(fileProbe(path).freeBytes()).toBeGreaterThan(0);
  });
});

sqliteOnly.describe("readiness never writes and never waits for the write lock", () => {
  test("probes write nothing: the WAL is byte for byte the same after 50 of them", async () => {
    const svc = service();
    expect((await svc.request("POST", CREATE_PATH, { body: createBody("OPP-READY-WAL") })).status).toBe(200);
    const wal = readFileSync(`${svc.dbPath}-wal`);
    for (let probe = 0; probe < 50; probe++) expect((await svc.request("GET", "/readyz", { secret: null })).status).toBe(200);
    expect(readFileSync(`${svc.dbPath}-wal`).equals(wal)).toBe(true);
  });

  // Before, each probe ran BEGIN IMMEDIATE and so waited the whole busy timeout (5 s) on the event loop while
  // another process held the lock: this test then ran into bun's 5 s test timeout.
  test("while another process holds the write lock, probes answer at once and leave the lock alone", async () => {
    const svc = service();
    const holder = new Database(svc.dbPath);
    cleanups.push(() => holder.close());
    holder.run("BEGIN IMMEDIATE");
    try {
      for (let probe = 0; probe < 5; probe++) expect(await answer(await svc.request("GET", "/readyz", { secret: null }))).toEqual(ready);
      expect(holder.inTransaction).toBe(true);
      expect(svc.db.inTransaction).toBe(false);
    } finally {
      holder.run("ROLLBACK");
    }
  });
});

sqliteOnly.describe("Readiness learns writability from the writer's outcomes", () => {
  let nowMs = 0;
  let free = 0;
  let unwritable: string | null = null;
  const probe: StorageProbe = { freeBytes: () => free, unwritable: () => unwritable };
  function readiness(): Readiness {
    const dir = makeTempDir("ops-readiness-outcomes-");
    cleanups.push(dir.cleanup);
    const store = openServiceStore(join(dir.path, "opportunities.db"));
    cleanups.push(() => store.close());
    nowMs = 1_000_000;
    free = 10_000;
    unwritable = null;
    return new Readiness(store.db, probe, { now: () => nowMs, cacheMs: 250 });
  }
  const failure = (code: string) => new StorageUnavailableError(code, new Error(code));

  test("disk full: red until the space free at the failure has grown by SPACE_TO_RECOVER, or a commit succeeds", () => {
    const check = readiness();
    check.noteStorageFailure(failure("SQLITE_FULL"));
    expect(check.problem()).toStartWith("数据库不可写 (SQLITE_FULL)");
    free += SPACE_TO_RECOVER - 1;
    expect(check.problem()).toStartWith("数据库不可写 (SQLITE_FULL)");
    free += 1;
    expect(check.problem()).toBeNull();
    check.noteStorageFailure(failure("SQLITE_FULL"));
    expect(check.problem()).not.toBeNull();
    check.noteCommit();
    expect(check.problem()).toBeNull();
  });

  test("a held lock: red for LOCK_HOLD_DOWN_MS, then writes may try again", () => {
    const check = readiness();
    check.noteStorageFailure(failure("SQLITE_BUSY"));
    expect(check.problem()).toStartWith("数据库不可写 (SQLITE_BUSY)");
    nowMs += LOCK_HOLD_DOWN_MS - 1;
    expect(check.problem()).not.toBeNull();
    nowMs += 1;
    expect(check.problem()).toBeNull();
  });

  test("unwritable files: red while the files refuse writes, ready once they accept them", () => {
    const check = readiness();
    unwritable = "/data/x.db: EPERM";
    check.noteStorageFailure(failure("SQLITE_IOERR_WRITE"));
    expect(check.problem()).toBe("数据库不可写 (SQLITE_IOERR_WRITE): /data/x.db: EPERM");
    unwritable = null;
    expect(check.problem()).toBeNull();
  });

  test("a ready answer is kept for the cache time; a failure ends it at once", () => {
    const check = readiness();
    expect(check.problem()).toBeNull();
    unwritable = "/data/x.db: EROFS";
    nowMs += 249;
    expect(check.problem()).toBeNull();
    nowMs += 1;
    expect(check.problem()).toStartWith("数据库不可写");
    unwritable = null;
    expect(check.problem()).toBeNull();
    check.noteStorageFailure(failure("SQLITE_FULL"));
    expect(check.problem()).toStartWith("数据库不可写 (SQLITE_FULL)");
  });
});
