import { SQL } from "bun";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportText } from "../../src/audit/export-events";
import { openSqliteStorage } from "../../src/storage/sqlite/storage";
import { appendLongStream } from "../audit/long-stream";
import { binary, E2E_TIMEOUT, run, startServer, stop, useBinary } from "../support/binary";
import { TestDatabases, type TestDatabase } from "../support/postgres";
import { makeTempDir } from "../support/temp-dir";
import { EndlessPipe } from "../support/endless-pipe";

// The audit commands of the compiled binary on PostgreSQL, as an operator runs them: verify, rebuild, backup and
// restore --db postgres://…, across backends (an export moves between SQLite and PostgreSQL keeping its head),
// and against a superuser's tampering that the database's own guards cannot stop.

const SECRET = "pg-audit-e2e-secret-0123456789abcdef";
const CODES = ["PGA-001", "PGA-002", "PGA-003", "PGA-004"];

const work = makeTempDir("opportunity-e2e-pg-audit-");
const databases = new TestDatabases();
let source: TestDatabase;
let head: string;

async function call(baseUrl: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { "content-type": "application/json", "x-internal-secret": SECRET, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await response.json()) as { code: string; data: any };
}

/** Runs SQL on a test database as the superuser the tests connect as (the attacker who can disable triggers). */
async function asSuperuser(database: TestDatabase, work: (sql: SQL) => Promise<unknown>): Promise<void> {
  const sql = new SQL({ url: database.url, database: database.name, max: 1 });
  try {
    await work(sql);
  } finally {
    await sql.close();
  }
}

const headLine = (stdout: string) => /^head (\d+:[0-9a-f]{64})$/m.exec(stdout)?.[1];

useBinary();
beforeAll(async () => {
  source = await databases.create();
  const secrets = join(work.path, "secrets.json");
  writeFileSync(secrets, JSON.stringify([{ name: "oms", secret: SECRET }]), { mode: 0o600 });
  const server = await startServer(["--db", source.url, "--secrets", secrets], work.path);
  try {
    for (const code of CODES) {
      expect((await call(server.baseUrl, "POST", "/api/opportunities/integration/create", { opportunityCode: code, opportunityName: `商机 ${code}`, endCustomerName: "客户", amount: 1 })).code).toBe("0");
    }
    for (const [index, code] of CODES.entries()) {
      const answer = await call(server.baseUrl, "PUT", "/api/opportunities/integration/update", { opportunityCode: code, amount: 10 + index, stage: "won" }, { "idempotency-key": `key-${code}` });
      expect(answer.code).toBe("0");
    }
    const feed = await call(server.baseUrl, "GET", "/api/events?after=0&limit=1");
    head = `${feed.data.head.position}:${feed.data.head.hash}`;
  } finally {
    await stop(server);
  }
}, E2E_TIMEOUT);
afterAll(async () => {
  await databases.dropAll();
  work.cleanup();
});

describe("verify, restore and backup on PostgreSQL, and across backends", () => {
  test("verify on PostgreSQL: OK with the head the service reports; --expect-head of another hash fails", async () => {
    // Two readers of the source: run at once (each start of the binary is slow under make test's load).
    const [verified, wrong] = await Promise.all([
      run(["verify", "--db", source.url, "--expect-head", head], work.path),
      run(["verify", "--db", source.url, "--expect-head", `${head.split(":")[0]}:${"0".repeat(64)}`], work.path),
    ]);
    expect({ code: verified.code, stderr: verified.stderr }).toEqual({ code: 0, stderr: "" });
    expect(verified.stdout).toStartWith(`OK: 8 events, ${CODES.length} opportunities;`);
    expect(headLine(verified.stdout)).toBe(head);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain(`FAILED at position 8: hash differs from the expected head ${"0".repeat(64)}`);
  }, E2E_TIMEOUT);

  test("export from PostgreSQL -> restore into SQLite -> verify: the same head; and back into a new PostgreSQL database", async () => {
    // Runs that do not depend on each other run at once (each start of the binary is slow under make test's load).
    const [exported, target] = await Promise.all([run(["export", "--db", source.url], work.path), databases.create()]);
    const fromPostgres = join(work.path, "from-postgres.ndjson");
    writeFileSync(fromPostgres, exported.stdout);
    const sqliteFile = join(work.path, "copy.db");
    const intoSqlite = await run(["restore", fromPostgres, "--db", sqliteFile], work.path);
    expect({ code: intoSqlite.code, head: headLine(intoSqlite.stdout) }).toEqual({ code: 0, head });
    const [sqliteVerified, sqliteExported] = await Promise.all([
      run(["verify", "--db", sqliteFile, "--expect-head", head], work.path),
      run(["export", "--db", sqliteFile], work.path),
    ]);
    expect(headLine(sqliteVerified.stdout)).toBe(head);

    const fromSqlite = join(work.path, "from-sqlite.ndjson");
    writeFileSync(fromSqlite, sqliteExported.stdout);
    const intoPostgres = await run(["restore", fromSqlite, "--db", target.url], work.path);
    expect({ code: intoPostgres.code, stderr: intoPostgres.stderr, head: headLine(intoPostgres.stdout) }).toEqual({ code: 0, stderr: "", head });
    const verified = await run(["verify", "--db", target.url, "--expect-head", head], work.path);
    expect({ code: verified.code, head: headLine(verified.stdout) }).toEqual({ code: 0, head });
    // Into a database that now holds data: refused, nothing changed, and the URL's password never shown.
    const again = await run(["restore", fromSqlite, "--db", target.url.replace("postgres@", "postgres:hunter2secret@")], work.path);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already holds data: restore only creates a new database");
    expect(again.stderr).not.toContain("hunter2secret");
  }, E2E_TIMEOUT);

  test("backup PATH on PostgreSQL writes a verified NDJSON export that restore takes, with the same head", async () => {
    const path = join(work.path, "backup.ndjson");
    const backedUp = await run(["backup", path, "--db", source.url], work.path);
    expect({ code: backedUp.code, stderr: backedUp.stderr, head: headLine(backedUp.stdout) }).toEqual({ code: 0, stderr: "", head });
    expect(backedUp.stdout).toContain(`8 events, ${CODES.length} opportunities, verified`);
    expect(existsSync(path)).toBe(true);
    // The file is written: the refused second backup, the restore of it and --help run at once.
    const [again, restored, help] = await Promise.all([
      run(["backup", path, "--db", source.url], work.path),
      databases.create().then((target) => run(["restore", path, "--db", target.url], work.path)),
      run(["backup", "--help"], work.path),
    ]);
    expect(again.code).toBe(2);
    expect({ code: restored.code, head: headLine(restored.stdout) }).toEqual({ code: 0, head });
    expect(help.stdout).toContain("pg_dump remains the tool for backing up the whole database");
  }, E2E_TIMEOUT);
});

describe("a restore into PostgreSQL killed midway", () => {
  test("SIGKILL while it inserts: the database is left as it was, without even the schema", async () => {
    // More events than one of restore's insert batches (10,000), so that a first batch is inserted in its
    // transaction while the rest is still to come. How the source is written is not what this test is about:
    // one long stream appended straight into a SQLite file, 2,000 events a transaction.
    const EVENTS = 12_000;
    const sqlite = openSqliteStorage(join(work.path, "long.db"));
    appendLongStream(sqlite, "PGA-LONG", EVENTS, { perWrite: 2_000 });
    const text = await exportText(sqlite);
    const sourceHead = await sqlite.head();
    await sqlite.close();
    const file = join(work.path, "long.ndjson");
    writeFileSync(file, text);
    const target = await databases.create();
    const admin = new SQL({ url: target.url, database: target.name, max: 1 });
    const databaseSize = async () => Number((await admin`SELECT pg_database_size(current_database()) AS size`)[0].size);
    const sizeBefore = await databaseSize();

    // The export comes through a pipe that is never closed (EndlessPipe): the restore is certainly still running,
    // its transaction open, when it is killed.
    const pipe = new EndlessPipe(join(work.path, "long.pipe"));
    const child = Bun.spawn([binary, "restore", pipe.path, "--db", target.url], { cwd: work.path, stdout: "ignore", stderr: "pipe", env: { PATH: process.env.PATH ?? "" } });
    try {
      let exited = false;
      void child.exited.then(() => (exited = true));
      const ended = async () => new Error(`restore ended (exit ${child.exitCode ?? child.signalCode}) before it could be killed midway: ${await new Response(child.stderr).text()}`);
      await pipe.feed(text, () => exited, ended);
      // Killed once its transaction has inserted the first batch and waits for more lines: the session is idle
      // in its open transaction, its last statement the INSERT INTO events.
      for (;;) {
        const [row] = await admin`
          SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
            AND state = 'idle in transaction' AND query LIKE '%INSERT INTO events%'`;
        if (Number(row.n) > 0) break;
        if (exited) throw await ended();
        await Bun.sleep(10);
      }
      // The rows are written (uncommitted) in the database's files: 10,000 events take about 7 MB, the empty
      // schema about 0.3 MB.
      expect(await databaseSize()).toBeGreaterThan(sizeBefore + 2 * 1024 * 1024);
      child.kill("SIGKILL");
      await child.exited;
      expect(child.signalCode).toBe("SIGKILL");
      // The server ends the dead client's session and rolls its transaction back.
      for (;;) {
        const [row] = await admin`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`;
        if (Number(row.n) === 0) break;
        await Bun.sleep(20);
      }
      expect(await admin`SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'`).toHaveLength(0);
    } finally {
      child.kill("SIGKILL"); // a no-op once it was killed above; never left running when the test fails
      await child.exited;
      pipe.close();
      await admin.close();
    }
    const again = await run(["restore", file, "--db", target.url], work.path);
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: "" });
    expect(again.stdout).toStartWith(`restored ${EVENTS} events, 1 opportunities`);
    expect(headLine(again.stdout)).toBe(`${sourceHead!.position}:${sourceHead!.hash}`);
  }, E2E_TIMEOUT * 2);
});

describe("tampering on PostgreSQL, as a superuser", () => {
  /** A copy of the source's events in a database of its own, for one test to damage. */
  async function copyOfSource(): Promise<TestDatabase> {
    const file = join(work.path, "source.ndjson");
    if (!existsSync(file)) writeFileSync(file, (await run(["export", "--db", source.url], work.path)).stdout);
    const copy = await databases.create();
    expect((await run(["restore", file, "--db", copy.url], work.path)).code).toBe(0);
    return copy;
  }

  test("an event rewritten with the trigger disabled: verify names the position and the disabled trigger", async () => {
    const copy = await copyOfSource();
    await asSuperuser(copy, async (sql) => {
      await sql`ALTER TABLE events DISABLE TRIGGER events_append_only`;
      await sql`UPDATE events SET data = replace(data, '"amount":11', '"amount":999') WHERE position = 6`;
    });
    const verified = await run(["verify", "--db", copy.url, "--expect-head", head], work.path);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain("FAILED at schema: trigger events_append_only is disabled (tgenabled D): the table is no longer guarded");
    expect(verified.stdout).toMatch(/FAILED at position 6: .*hash/);
  }, E2E_TIMEOUT);

  test("a dropped trigger and a head row moved back: verify fails on the structure though every event is intact", async () => {
    const copy = await copyOfSource();
    await asSuperuser(copy, async (sql) => {
      await sql`DROP TRIGGER events_append_only ON events`;
      await sql`UPDATE event_head SET position = 7`;
    });
    const verified = await run(["verify", "--db", copy.url], work.path);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain("FAILED at schema: trigger events_append_only is missing: the table is no longer guarded");
    expect(verified.stdout).toContain(`FAILED at table event_head: the head row says 7:${head.split(":")[1]}, but the last event is ${head}`);
  }, E2E_TIMEOUT);

  test("rebuild repairs a tampered projection", async () => {
    const copy = await copyOfSource();
    await asSuperuser(copy, (sql) => sql`UPDATE opportunities SET amount = 12345 WHERE code = ${CODES[2]!}`);
    const before = await run(["verify", "--db", copy.url], work.path);
    expect(before.code).toBe(1);
    expect(before.stdout).toContain(`FAILED at table opportunities: projection row ${CODES[2]} differs from the events in: amount`);
    const rebuilt = await run(["rebuild", "--db", copy.url], work.path);
    expect({ code: rebuilt.code, stderr: rebuilt.stderr }).toEqual({ code: 0, stderr: "" });
    expect(rebuilt.stdout).toStartWith(`rebuilt ${CODES.length} opportunities from 8 events`);
    const after = await run(["verify", "--db", copy.url, "--expect-head", head], work.path);
    expect({ code: after.code, head: headLine(after.stdout) }).toEqual({ code: 0, head });
  }, E2E_TIMEOUT);

  // Last: it damages the source itself (the only database holding the service's idempotency keys).
  test("a forged idempotency outcome: verify names the client and key", async () => {
    await asSuperuser(source, (sql) => sql`UPDATE idempotency_keys SET outcome = '{"ok":true,"id":4,"version":2}' WHERE key = ${`key-${CODES[0]}`}`);
    const verified = await run(["verify", "--db", source.url], work.path);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain(`FAILED at table idempotency_keys: client "oms" key "key-${CODES[0]}": the stored success answers id 4, but the events created "${CODES[0]}" with id 1`);
  }, E2E_TIMEOUT);
});
