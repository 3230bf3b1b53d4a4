/**
 * PostgreSQL faults and guards: the append-only triggers, an unreachable server, a connection the server ends,
 * the head lock held too long, a deadlock the batch runs again after, the schema version, and which errors
 * mean "unavailable".
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import type { EventMetadata } from "../../events/opportunity-events";
import { SchemaTooNewError } from "../../src/storage/port";
import { isRetryable, postgresUnavailableCode } from "../../src/storage/postgres/errors";
import { openPostgresStorage, PostgresStorage, type PostgresStorageOptions } from "../../src/storage/postgres/storage";
import { StorageUnavailableError } from "../../src/storage-errors";
import { GroupCommit } from "../../src/write/group-commit";
import { freePort } from "../support/free-port";
import { TestDatabases } from "../support/postgres";
import { create, update } from "./storage-contract";

const databases = new TestDatabases();
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
afterAll(() => databases.dropAll());

const META: EventMetadata = { actor: "oms", requestId: "req-1" };

/** A storage on a fresh database, and a plain client of that database playing another session (an operator, another instance). */
async function setup(options: PostgresStorageOptions = {}) {
  const db = await databases.create();
  const storage = await openPostgresStorage(db.url, options);
  const admin = new SQL({ url: db.url, database: db.name, max: 2 });
  closers.push(() => storage.close(), () => admin.close());
  return { db, storage, admin, writer: new GroupCommit(storage) };
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

/** Holds the head row's lock from another session until `release` is called, as a frozen instance would. */
async function holdHeadLock(admin: SQL) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const transaction = admin.begin(async (tx) => {
    await tx`SELECT position FROM event_head FOR UPDATE`;
    locked();
    await released;
  });
  await isLocked;
  return { release: () => (release(), transaction) };
}

describe("the events table is append-only in the database itself", () => {
  test("UPDATE, DELETE (even of no row) and TRUNCATE of events raise; the rows stay as they were", async () => {
    const { storage, admin, writer } = await setup();
    await writer.execute(create("RO"), META);
    const before = await storage.readRowsAfter(0, 10);
    const attempts = [
      admin`UPDATE events SET data = '{}'`,
      admin`DELETE FROM events WHERE position = 1`,
      admin`DELETE FROM events WHERE false`,
      admin`TRUNCATE events`,
      admin`TRUNCATE events CASCADE`,
    ];
    for (const attempt of attempts) expect(String(await rejection(attempt))).toMatch(/events are append-only: (UPDATE|DELETE|TRUNCATE) is not allowed/);
    expect(await storage.readRowsAfter(0, 10)).toEqual(before);
  });
});

describe("an unavailable database answers StorageUnavailableError, and the service recovers without a restart", () => {
  test("a server that refuses connections: opening fails with StorageUnavailableError, its message in Chinese, no password shown", async () => {
    const port = freePort();
    const error = await rejection(openPostgresStorage(`postgres://postgres:s3cret@127.0.0.1:${port}/nowhere`, { connectTimeoutSeconds: 2 }));
    expect(error).toBeInstanceOf(StorageUnavailableError);
    const unavailable = error as StorageUnavailableError;
    expect(unavailable.code).toBe("ERR_POSTGRES_CONNECTION_REFUSED");
    expect(unavailable.userMessage).toBe("数据库暂时无法连接，本次修改未保存，请稍后重试");
    expect(unavailable.message).not.toContain("s3cret");
  });

  test("the server ends the writer's session mid-batch (57P01): that write fails as unavailable, nothing of it stays, the next write succeeds", async () => {
    const { storage, admin, writer } = await setup();
    await writer.execute(create("TERM"), META);
    const head = await storage.head();
    const lock = await holdHeadLock(admin);
    const write = rejection(writer.execute(update("TERM", { amount: 1 }), META));
    // The batch now waits for the head row inside its transaction: end its session as a server restart would.
    for (;;) {
      const waiting = await admin`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'opportunity-service' AND wait_event_type = 'Lock'`;
      if (waiting.length > 0) {
        await admin`SELECT pg_terminate_backend(${waiting[0].pid}::int)`;
        break;
      }
      await Bun.sleep(10);
    }
    const error = await write;
    await lock.release();
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect((error as StorageUnavailableError).userMessage).toMatch(/本次修改未保存/);
    expect(await storage.head()).toEqual(head);
    expect(await writer.execute(update("TERM", { amount: 2 }), META)).toMatchObject({ ok: true, version: 2 });
    expect(await storage.readiness()).toBeNull();
  });

  test("the head row held past lock_timeout (55P03): the write fails as a held lock, readiness turns red, and writes resume once it is released", async () => {
    const { storage, admin, writer } = await setup({ lockTimeoutMs: 200 });
    await writer.execute(create("LOCK"), META);
    const lock = await holdHeadLock(admin);
    const error = await rejection(writer.execute(update("LOCK", { amount: 1 }), META));
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect((error as StorageUnavailableError).code).toBe("55P03");
    expect((error as StorageUnavailableError).lockHeld).toBe(true);
    expect((error as StorageUnavailableError).userMessage).toBe("数据库繁忙，本次修改未保存，请稍后重试");
    expect(await storage.readiness()).toMatch(/^数据库不可写 \(55P03\)/);
    await lock.release();
    expect(await writer.execute(update("LOCK", { amount: 1 }), META)).toMatchObject({ ok: true, version: 2 });
    expect(await storage.readiness()).toBeNull();
  });

  test("a deadlock that makes the server roll the batch back (40P01) runs the batch again: the write succeeds, once", async () => {
    const { storage, admin, writer } = await setup();
    await writer.execute(create("DEAD"), META);
    const other = await admin.reserve();
    closers.push(async () => other.release());
    // The other session detects deadlocks late, so the batch is the one the server rolls back.
    await other`SET deadlock_timeout = '20s'`;
    await other`BEGIN`;
    await other`SELECT id FROM opportunities WHERE code = 'DEAD' FOR UPDATE`;
    const write = writer.execute(update("DEAD", { amount: 7 }), META);
    for (;;) {
      const waiting = await admin`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'opportunity-service' AND wait_event_type = 'Lock'`;
      if (waiting.length > 0) break;
      await Bun.sleep(10);
    }
    // The batch holds the head row and waits for the opportunity row; the other session now waits for the head:
    // a deadlock, which the batch's session detects first and is rolled back for, handing the head to the other.
    await other`SELECT position FROM event_head FOR UPDATE`;
    await other`ROLLBACK`;
    expect(await write).toMatchObject({ ok: true, version: 2, appended: 1 });
    expect((await storage.readStreamPage("DEAD", 0, 10)).map((event) => event.version)).toEqual([1, 2]);
  });
});

describe("a batch's writes and its COMMIT go out together: when one write fails, nothing of the batch is committed", () => {
  /** Everything a batch writes, as the database holds it. */
  const written = async (admin: SQL) => ({
    head: await admin`SELECT position, hash FROM event_head`,
    events: (await admin`SELECT count(*)::int AS n FROM events`)[0].n,
    rows: await admin`SELECT code, amount, version FROM opportunities ORDER BY code`,
  });

  test("an event row another session put at the next position: the insert fails, the projection and head updates sent with it are rolled back", async () => {
    const { storage, admin, writer } = await setup();
    await writer.execute(create("PIPE"), META);
    await writer.execute(create("PIPE2"), META);
    // The append-only trigger lets an INSERT through: a foreign row at the position the next batch will take.
    await admin`INSERT INTO events SELECT position + 1, event_id || 'x', stream_id, version + 5, type, schema_version, data, metadata, recorded_at, hash, hash FROM events WHERE position = 2`;
    const before = await written(admin);
    const error = await rejection(writer.execute(update("PIPE", { amount: 42 }), META));
    expect(String(error)).toMatch(/duplicate key|unique/);
    expect(await written(admin)).toEqual(before);
    expect((await storage.findOpportunity("PIPE"))?.version).toBe(1);
  });

  test("a projection row gone between the read and the write: the batch fails on the server with the reason, and its events are not committed", async () => {
    const { admin, writer } = await setup();
    await writer.execute(create("KEPT"), META);
    // The row of a changed opportunity disappears between the batch's read and its write, as a bug would make it:
    await admin`CREATE FUNCTION drop_kept() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM opportunities WHERE code = 'KEPT'; RETURN NULL; END $$`;
    await admin`CREATE TRIGGER drop_kept AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION drop_kept()`;
    const before = await written(admin);
    const error = await rejection(writer.execute(update("KEPT", { amount: 7 }), META));
    expect(String(error)).toContain("projection rows missing: updated 0 of 1");
    expect(await written(admin)).toEqual(before);
  });
});

describe("connection settings", () => {
  test("PGDATABASE in the environment does not take the service to another database than the URL names", async () => {
    const saved = process.env.PGDATABASE;
    process.env.PGDATABASE = "opportunity_no_such_database";
    try {
      const { admin, writer } = await setup();
      expect(await writer.execute(create("ENV"), META)).toMatchObject({ ok: true });
      expect((await admin`SELECT stream_id FROM events`).map((row: { stream_id: string }) => row.stream_id)).toEqual(["ENV"]);
    } finally {
      if (saved === undefined) delete process.env.PGDATABASE;
      else process.env.PGDATABASE = saved;
    }
  });
});

describe("readiness and the schema version", () => {
  test("readiness is red, saying why, while the database cannot be reached, and never throws", async () => {
    const port = freePort();
    const unreachable = new SQL({ url: `postgres://postgres:s3cret@127.0.0.1:${port}/nowhere`, database: "nowhere", max: 1, connectionTimeout: 2 });
    const storage = new PostgresStorage(unreachable, unreachable, `postgres://postgres:s3cret@127.0.0.1:${port}/nowhere`);
    closers.push(() => storage.close());
    const problem = await storage.readiness();
    expect(problem).toMatch(/^数据库无法连接 \(ERR_POSTGRES_CONNECTION_REFUSED\)/);
    expect(problem).not.toContain("s3cret");
    expect(storage.location).toBe(`postgres://postgres:***@127.0.0.1:${port}/nowhere`);
  });

  test("a schema version this binary does not have turns readiness red; at start a newer one is refused", async () => {
    const { db, storage, admin } = await setup();
    await admin`UPDATE schema_version SET version = version + 1`;
    expect(await storage.readiness()).toMatch(/^数据库结构版本为 2，本程序需要 1$/);
    const error = await rejection(openPostgresStorage(db.url));
    expect(error).toBeInstanceOf(SchemaTooNewError);
    expect(String(error)).toContain("schema version 2, newer than this binary supports (1)");
  });
});

describe("which PostgreSQL errors mean unavailable, and which mean run again", () => {
  test("connection, resources, shutdown, lock and statement timeouts, idle transaction: unavailable; constraint and data errors: not", () => {
    const server = (errno: string) => ({ code: "ERR_POSTGRES_SERVER_ERROR", errno });
    for (const errno of ["08006", "08001", "53100", "53300", "57P01", "57P02", "57P03", "55P03", "57014", "25P03"]) expect(postgresUnavailableCode(server(errno))).toBe(errno);
    for (const code of ["ERR_POSTGRES_CONNECTION_CLOSED", "ERR_POSTGRES_CONNECTION_REFUSED", "ERR_POSTGRES_CONNECTION_TIMEOUT", "ERR_POSTGRES_IDLE_TIMEOUT"]) {
      expect(postgresUnavailableCode({ code })).toBe(code);
    }
    for (const errno of ["23505", "22021", "42P01", "40001", "40P01", "P0001"]) expect(postgresUnavailableCode(server(errno))).toBeNull();
    expect(postgresUnavailableCode({ code: "ERR_POSTGRES_SYNTAX_ERROR" })).toBeNull();
    expect(postgresUnavailableCode(new Error("plain"))).toBeNull();
    expect(postgresUnavailableCode(undefined)).toBeNull();
    expect(["40001", "40P01", "55P03", "23505"].map((errno) => isRetryable(server(errno)))).toEqual([true, true, false, false]);
  });
});
