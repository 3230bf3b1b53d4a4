/**
 * verify, rebuild, restore and backup on PostgreSQL at the store level: the audit written once (StoreAuditor, the
 * projection check, the idempotency checks) over the PostgreSQL adapter's reads, compared with the same audit on
 * a SQLite file holding the same events; and what only PostgreSQL has (its trigger, constraints, head row, schema
 * version table). Each test works on databases of its own, dropped after it.
 */
import { SQL } from "bun";
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EventMetadata } from "../../events/opportunity-events";
import { exportText } from "../../src/audit/export-events";
import { checkExportFile, restoreExport, restoreExportToPostgres } from "../../src/audit/restore-export";
import { verifyAuditReads, verifyStore, type VerifyReport } from "../../src/audit/verify-store";
import { backupToExport } from "../../src/backup";
import type { Head } from "../../src/storage/port";
import { openPostgresStorage, type PostgresStorage } from "../../src/storage/postgres/storage";
import { openSqliteStorage } from "../../src/storage/sqlite/storage";
import { GroupCommit } from "../../src/write/group-commit";
import { openDatabase } from "../../src/storage/sqlite/database";
import { TestDatabases, type TestDatabase } from "../support/postgres";
import { makeTempDir } from "../support/temp-dir";
import { claim, create, update } from "./storage-contract";

const META: EventMetadata = { actor: "oms", requestId: "req-1" };
const databases = new TestDatabases();
const work = makeTempDir("opportunity-pg-audit-");
const open: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const one of open.splice(0).reverse()) await one.close();
});
afterAll(async () => {
  await databases.dropAll();
  work.cleanup();
});

async function fresh(options: { migrate?: boolean } = {}): Promise<{ database: TestDatabase; storage: PostgresStorage; raw: SQL }> {
  const database = await databases.create();
  const storage = await openPostgresStorage(database.url, options);
  const raw = new SQL({ url: database.url, database: database.name, max: 1 });
  open.push(storage, { close: () => raw.close() });
  return { database, storage, raw };
}

const audit = (storage: PostgresStorage, expectHead?: Head): Promise<VerifyReport> => storage.audit((reads) => verifyAuditReads(reads, { expectHead }));

/** Creates, updates (some keyed, some refused) through the group-commit queue: every kind of stored answer. */
async function fill(writer: GroupCommit): Promise<void> {
  for (const code of ["OPP-A", "OPP-B", "OPP-C"]) await writer.execute(create(code, { amount: 1 }), META);
  await writer.execute(update("OPP-A", { amount: 2, stage: "won" }), META, claim("k-success"));
  await writer.execute(update("OPP-B", { amount: 3 }, 7), META, claim("k-conflict"));
  await writer.execute(update("NOPE", { amount: 4 }), META, claim("k-not-found"));
  await writer.execute(create("OPP-A"), META, claim("k-exists"));
  await writer.execute(create("OPP-D", { description: "长文本 \u2028 with odd characters \ud83d\ude00" }), META, claim("k-created"));
  await writer.execute(update("OPP-C", { amount: 1 }), META, claim("k-no-change"));
}

async function filledPostgres() {
  const opened = await fresh();
  await fill(new GroupCommit(opened.storage));
  return opened;
}

function writeExport(name: string, text: string): string {
  const file = join(work.path, name);
  writeFileSync(file, text);
  return file;
}

describe("verify on PostgreSQL", () => {
  test("a database written by the service verifies, idempotency answers of every kind included", async () => {
    const { storage } = await filledPostgres();
    const report = await audit(storage);
    expect(report).toMatchObject({ ok: true, events: 5, opportunities: 4, findings: [] });
    expect(report.head).toEqual(await storage.head());
    expect((await audit(storage, report.head!)).ok).toBe(true);
  });

  test("reads one snapshot: a batch committed while verify runs is seen by none of its checks", async () => {
    const { storage } = await filledPostgres();
    const before = await storage.head();
    const writer = new GroupCommit(storage);
    const report = await storage.audit(async (reads) => {
      await reads.structuralFindings(); // the snapshot is taken by the first read
      expect(await writer.execute(update("OPP-B", { amount: 77 }), META, claim("k-during"))).toMatchObject({ ok: true, appended: 1 });
      return verifyAuditReads(reads);
    });
    expect(report).toMatchObject({ ok: true, events: 5, head: before });
    expect(await audit(storage)).toMatchObject({ ok: true, events: 6 });
  });

  test("the same events give the same report on SQLite and PostgreSQL, both ways", async () => {
    const source = await filledPostgres();
    const file = writeExport("pg.ndjson", await exportText(source.storage));
    const sqlitePath = join(work.path, "from-pg.db");
    const restored = await restoreExport(file, sqlitePath);
    expect(restored.ok).toBe(true);
    const db = openDatabase(sqlitePath);
    const sqliteReport = verifyStore(db);
    db.close();
    // The PostgreSQL source holds idempotency keys, the restored copies none: both verify, with the same head.
    expect(sqliteReport).toEqual(await audit(source.storage));

    const sqlite = openSqliteStorage(sqlitePath);
    const back = writeExport("sqlite.ndjson", await exportText(sqlite));
    await sqlite.close();
    const target = await fresh({ migrate: false });
    expect(await restoreExportToPostgres(back, target.storage)).toEqual({ ok: true, events: 5, opportunities: 4, head: sqliteReport.head });
    expect(await audit(target.storage)).toEqual(sqliteReport);
  });

  test("an event changed with the trigger disabled, a removed tail, and a head row that is not the last event", async () => {
    const { storage, raw } = await filledPostgres();
    const head = (await storage.head())!;
    await raw`ALTER TABLE events DISABLE TRIGGER events_append_only`;
    await raw`UPDATE events SET data = replace(data, '"amount":2', '"amount":200') WHERE position = 4`;
    let report = await audit(storage);
    expect(report.ok).toBe(false);
    expect(report.findings).toContainEqual({ position: 0, at: "schema", reason: "trigger events_append_only is disabled (tgenabled D): the table is no longer guarded" });
    expect(report.findings.find((finding) => finding.at === "position 4")?.reason).toContain("hash");
    await raw`DELETE FROM events WHERE position = ${head.position}`;
    await raw`ALTER TABLE events ENABLE TRIGGER events_append_only`;
    report = await audit(storage, head);
    expect(report.findings).toContainEqual({
      position: head.position,
      at: `position ${head.position}`,
      reason: `the chain ends at position ${head.position - 1}, before the expected head ${head.position}: events were removed from the end`,
    });
    expect(report.findings).toContainEqual({
      position: 0,
      at: "table event_head",
      reason: `the head row says ${head.position}:${head.hash}, but the last event is ${head.position - 1}:${(await storage.head())!.hash}`,
    });
  });

  test("a dropped or redefined trigger, another trigger, a missing unique constraint, another schema version", async () => {
    const { storage, raw } = await filledPostgres();
    await raw`DROP TRIGGER events_append_only ON events`;
    await raw`DROP INDEX events_stream_id_version_key`.catch(() => raw`ALTER TABLE events DROP CONSTRAINT events_stream_id_version_key`);
    await raw`UPDATE schema_version SET version = 7`;
    let reasons = (await audit(storage)).findings.map((finding) => `${finding.at}: ${finding.reason}`);
    expect(reasons).toContain("schema: trigger events_append_only is missing: the table is no longer guarded");
    expect(reasons).toContain("schema: table events lacks its UNIQUE (stream_id, version) constraint");
    expect(reasons).toContain("schema: the schema version is 7, this binary's is 1");
    // A trigger only on UPDATE lets DELETE and TRUNCATE through.
    await raw.unsafe("CREATE TRIGGER events_append_only BEFORE UPDATE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()");
    await raw.unsafe("CREATE TRIGGER sneaky BEFORE INSERT ON opportunities FOR EACH ROW EXECUTE FUNCTION events_append_only()");
    reasons = (await audit(storage)).findings.map((finding) => `${finding.at}: ${finding.reason}`);
    expect(reasons.some((reason) => reason.startsWith("schema: trigger events_append_only is not defined as this binary defines it: CREATE TRIGGER events_append_only BEFORE UPDATE"))).toBe(true);
    expect(reasons.some((reason) => reason.startsWith("schema: unexpected trigger sneaky on opportunities"))).toBe(true);
  });

  test("a column of another type, a dropped NOT NULL, a missing and an extra column: each named; a fresh database has none", async () => {
    const { storage, raw } = await filledPostgres();
    expect((await audit(storage)).findings.filter((finding) => finding.at === "schema")).toEqual([]);
    await raw`ALTER TABLE events DISABLE TRIGGER events_append_only`;
    // jsonb would rewrite the hashed text; the rows' hashes then fail too, but the cause is named first.
    await raw`ALTER TABLE events ALTER COLUMN metadata TYPE jsonb USING metadata::jsonb`;
    await raw`ALTER TABLE events ENABLE TRIGGER events_append_only`;
    await raw`ALTER TABLE opportunities ALTER COLUMN id TYPE float8`;
    await raw`ALTER TABLE opportunities ALTER COLUMN end_customer_name DROP NOT NULL`;
    await raw`ALTER TABLE idempotency_keys DROP COLUMN appended`;
    await raw`ALTER TABLE event_head ADD COLUMN note text`;
    const reasons = (await audit(storage)).findings.filter((finding) => finding.at === "schema").map((finding) => finding.reason);
    expect(reasons).toEqual([
      "column events.metadata is jsonb, not text as this binary made it",
      "unexpected column event_head.note: not one this binary made",
      "column opportunities.id is double precision, not bigint as this binary made it",
      "column opportunities.end_customer_name accepts NULL, unlike the one this binary made",
      "table idempotency_keys lacks its column appended",
    ]);
  });

  test("a database without the service's tables: each missing one is named and every check still reports", async () => {
    const { storage } = await fresh({ migrate: false });
    const report = await audit(storage);
    const reasons = report.findings.map((finding) => `${finding.at}: ${finding.reason}`);
    expect(reasons).toContain("schema: trigger events_append_only is missing: the table is no longer guarded");
    expect(reasons).toContain("schema: table events is missing");
    expect(reasons).toContain('table events: the check could not finish: relation "events" does not exist');
    expect(reasons).toContain('table idempotency_keys: the check could not finish: relation "idempotency_keys" does not exist');
  });

  test("a forged idempotency answer is named, as on SQLite", async () => {
    const { storage, raw } = await filledPostgres();
    await raw`UPDATE idempotency_keys SET outcome = '{"ok":true,"id":1,"version":1}' WHERE key = 'k-not-found'`;
    await raw`UPDATE idempotency_keys SET outcome = '{"ok":true,"id":9,"version":2}' WHERE key = 'k-success'`;
    const report = await audit(storage);
    expect(report.findings.filter((finding) => finding.at === "table idempotency_keys").map((finding) => finding.reason)).toEqual([
      'client "oms" key "k-not-found": the stored success answers version 1 of "NOPE", but at position 4 the events have it at version 0',
      'client "oms" key "k-success": the stored success answers id 9, but the events created "OPP-A" with id 1',
    ]);
    expect(report.findings).toHaveLength(2);
    // Rows without proof (as SQLite keeps from before schema version 3) must still name an opportunity the events hold.
    await raw`UPDATE idempotency_keys SET stream_id = NULL, position = NULL, appended = NULL, outcome = '{"ok":true,"id":4,"version":1}' WHERE key = 'k-created'`;
    await raw`UPDATE idempotency_keys SET stream_id = NULL, position = NULL, appended = NULL, outcome = '{"ok":true,"id":77,"version":1}' WHERE key = 'k-exists'`;
    expect((await audit(storage)).findings.map((finding) => finding.reason)).toEqual([
      'client "oms" key "k-exists": the stored success answers id 77, but no event creates an opportunity with that id',
      ...report.findings.map((finding) => finding.reason),
    ]);
  });

  test("projection drift is found, and rebuild repairs it under the head lock", async () => {
    const { storage, raw } = await filledPostgres();
    await raw`UPDATE opportunities SET amount = 999 WHERE code = 'OPP-B'`;
    await raw`DELETE FROM opportunities WHERE code = 'OPP-C'`;
    const report = await audit(storage);
    expect(report.findings.map((finding) => `${finding.at}: ${finding.reason}`)).toEqual([
      "table opportunities: projection row OPP-B differs from the events in: amount",
      "table opportunities: projection is missing OPP-C",
    ]);
    expect(await storage.rebuildProjection()).toEqual({ opportunities: 4, events: 5 });
    expect(await audit(storage)).toMatchObject({ ok: true, findings: [] });
  });

  test("rebuild takes the head row's lock first: while a batch holds it, rebuild waits (here: up to its lock timeout)", async () => {
    const { database, raw } = await filledPostgres();
    const impatient = await openPostgresStorage(database.url, { lockTimeoutMs: 200 });
    open.push(impatient);
    await raw.begin(async (tx) => {
      await tx`SELECT position FROM event_head FOR UPDATE`;
      await expect(impatient.rebuildProjection()).rejects.toMatchObject({ name: "StorageUnavailableError", code: "55P03" });
    });
    expect(await impatient.rebuildProjection()).toEqual({ opportunities: 4, events: 5 });
  });
});

describe("restore into PostgreSQL", () => {
  test("refuses a database that holds data, and one that holds tables of anything else", async () => {
    const source = await filledPostgres();
    const file = writeExport("refuse.ndjson", await exportText(source.storage));
    const result = await restoreExportToPostgres(file, source.storage);
    expect(result).toEqual({ ok: false, reason: `${source.storage.location} already holds data: restore only creates a new database` });
    const other = await fresh({ migrate: false });
    await other.raw`CREATE TABLE invoices (id int)`;
    expect(await restoreExportToPostgres(file, other.storage)).toEqual({
      ok: false,
      reason: `${other.storage.location} is not empty (it holds invoices): restore only creates a new database`,
    });
  });

  test("a bad line anywhere leaves nothing behind: not even the schema", async () => {
    const source = await filledPostgres();
    const lines = (await exportText(source.storage)).trimEnd().split("\n");
    lines[3] = lines[3]!.replace('"version":2', '"version":3');
    const target = await fresh({ migrate: false });
    const result = await restoreExportToPostgres(writeExport("bad.ndjson", `${lines.join("\n")}\n`), target.storage);
    expect(result.ok).toBe(false);
    expect((result as { reason: string }).reason).toStartWith("line 4, position 4:");
    const tables = await target.raw`SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'`;
    expect(tables).toHaveLength(0);
  });
});

describe("backup on PostgreSQL", () => {
  test("writes a verified export up to the head, which restores into PostgreSQL and SQLite with that head", async () => {
    const source = await filledPostgres();
    const head = (await source.storage.head())!;
    const target = join(work.path, "backup.ndjson");
    const result = await backupToExport(source.storage, target);
    expect(result).toMatchObject({ ok: true, events: 5, opportunities: 4, head });
    expect(await checkExportFile(target)).toEqual({ ok: true, events: 5, opportunities: 4, head });
    expect(await backupToExport(source.storage, target)).toEqual({ ok: false, reason: `${target} already exists: backup never writes over a file` });
    const into = await fresh({ migrate: false });
    expect(await restoreExportToPostgres(target, into.storage)).toEqual({ ok: true, events: 5, opportunities: 4, head });
    expect(await restoreExport(target, join(work.path, "from-backup.db"))).toEqual({ ok: true, events: 5, opportunities: 4, head });
  });

  test("an empty database has nothing to back up, and no file is left", async () => {
    const { storage } = await fresh();
    const target = join(work.path, "empty.ndjson");
    expect(await backupToExport(storage, target)).toEqual({ ok: false, reason: "the database holds no events: there is nothing to back up" });
    expect(await Bun.file(target).exists()).toBe(false);
  });
});
