import { Database } from "bun:sqlite";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { setLogLevel } from "../../src/log";
import { readinessProblem } from "../../src/readiness";
import { SCHEMA_VERSION } from "../../src/schema-migrations";
import { openServiceStore } from "../../src/service-store";
import { makeTempDir } from "../support/temp-dir";
import { createBody, CREATE_PATH, startOpsService, TEST_SECRET, type OpsService } from "./ops-service";

// GET /healthz (always ok) and GET /readyz (200 when the database is open, writable and at the current schema
// version; 503 with the reason otherwise). Neither needs a secret.

const JSON_UTF8 = "application/json;charset=UTF-8";
// Request log lines are not what these tests look at (the threshold is process-wide: restored after).
beforeAll(() => setLogLevel("warn"));
afterAll(() => setLogLevel("info"));

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function service(options: Parameters<typeof startOpsService>[0] = {}): OpsService {
  const started = startOpsService(options);
  cleanups.push(() => started.dispose());
  return started;
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
    const svc = service();
    expect(await answer(await svc.request("GET", "/healthz", { secret }))).toEqual({
      status: 200,
      contentType: JSON_UTF8,
      body: { code: "0", msg: "success", data: "ok" },
    });
  });

  test("stays ok when the database is not ready (liveness is not readiness)", async () => {
    const svc = service();
    svc.db.run(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    expect((await svc.request("GET", "/healthz", { secret: null })).status).toBe(200);
    expect((await svc.request("GET", "/readyz", { secret: null })).status).toBe(503);
  });
});

describe("GET /readyz", () => {
  test("200 ready on an open, writable database at the current schema version, without a secret", async () => {
    const svc = service();
    expect(await answer(await svc.request("GET", "/readyz", { secret: null }))).toEqual(ready);
    expect(await answer(await svc.request("GET", "/readyz", { secret: "wrong-secret-0123456789abcdef" }))).toEqual(ready);
  });

  test("the check leaves no transaction open and writes still work after it", async () => {
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
    const svc = service();
    svc.db.run(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    expect(await answer(await svc.request("GET", "/readyz", { secret: null }))).toEqual(
      notReady(`数据库结构版本为 ${SCHEMA_VERSION + 1}，本程序需要 ${SCHEMA_VERSION}`),
    );
    svc.db.run(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    expect(await answer(await svc.request("GET", "/readyz", { secret: null }))).toEqual(ready);
  });

  test("503 when the schema version is older (a database the binary has not upgraded)", async () => {
    const svc = service();
    svc.db.run("PRAGMA user_version = 0");
    expect(await answer(await svc.request("GET", "/readyz", { secret: null }))).toEqual(notReady(`数据库结构版本为 0，本程序需要 ${SCHEMA_VERSION}`));
  });

  test("503 when the version is changed by another connection (another process upgraded the file)", async () => {
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

  test("503 'not writable' for a database file opened read-only", async () => {
    const dir = makeTempDir("ops-readonly-");
    cleanups.push(dir.cleanup);
    const path = join(dir.path, "opportunities.db");
    openServiceStore(path).close();
    const readonly = new Database(path, { readonly: true });
    cleanups.push(() => readonly.close());
    const svc = service({ readiness: () => readinessProblem(readonly) });
    const got = await answer(await svc.request("GET", "/readyz", { secret: null }));
    expect(got.status).toBe(503);
    expect((got.body as { msg: string }).msg).toStartWith("服务未就绪: 数据库不可写");
  });

  test("503 (not a 500) when the database has been closed", async () => {
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

describe("readinessProblem", () => {
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

  test("a read-only connection is not ready: it cannot take writes", () => {
    const dir = makeTempDir("ops-readiness-ro-");
    cleanups.push(dir.cleanup);
    const path = join(dir.path, "opportunities.db");
    openServiceStore(path).close();
    const readonly = new Database(path, { readonly: true });
    cleanups.push(() => readonly.close());
    // The connection really cannot write: the readiness check must say so.
    expect(() => readonly.run("CREATE TABLE probe (x)")).toThrow(/readonly/);
    expect(readinessProblem(readonly)).toStartWith("数据库不可写");
    expect(readonly.inTransaction).toBe(false);
  });

  test("another connection holding the write lock makes it not ready (after the busy timeout), and leaves no transaction", () => {
    const dir = makeTempDir("ops-readiness-lock-");
    cleanups.push(dir.cleanup);
    const path = join(dir.path, "opportunities.db");
    const store = openServiceStore(path);
    cleanups.push(() => store.close());
    store.db.run("PRAGMA busy_timeout = 20");
    const holder = new Database(path);
    cleanups.push(() => holder.close());
    holder.run("BEGIN IMMEDIATE");
    try {
      expect(readinessProblem(store.db)).toMatch(/^数据库不可写.*: .*locked/);
      expect(store.db.inTransaction).toBe(false);
    } finally {
      holder.run("ROLLBACK");
    }
    expect(readinessProblem(store.db)).toBeNull();
  });
});
