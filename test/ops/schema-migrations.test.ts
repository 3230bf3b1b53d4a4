import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openDatabase } from "../../src/storage/sqlite/database";
import { verifyStore } from "../../src/audit/verify-store";
import { SchemaTooNewError } from "../../src/storage/port";
import { assertSchemaSupported, migrate, MIGRATIONS, SCHEMA_VERSION, schemaVersionOf, type Migration } from "../../src/storage/sqlite/schema";
import { openServiceStore } from "../../src/service-store";
import { chainProblems, eventRows, opportunityRows } from "../store/store-fixture";
import { makeTempDir } from "../support/temp-dir";

// The schema version lives in PRAGMA user_version: older databases are upgraded at open, step by step, each in
// its own transaction; a database of a newer binary is refused.

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function dbPath(): string {
  const dir = makeTempDir("ops-migrations-");
  cleanups.push(dir.cleanup);
  return join(dir.path, "opportunities.db");
}

/** A connection closed after the test (before its directory is removed). */
function open(path: string): Database {
  const db = openDatabase(path);
  cleanups.push(() => db.close());
  return db;
}

const META = { actor: "oms", requestId: "req-mig" };

/** A store with a few opportunities, some updated, written through the service's own write path; then closed. */
async function populatedStore(path: string): Promise<void> {
  const service = openServiceStore(path);
  try {
    for (let i = 1; i <= 3; i++) {
      const created = await service.writer.execute(
        { type: "CreateOpportunity", opportunityCode: `OPP-MIG-${i}`, endCustomerName: "某市大数据局", fields: { opportunityName: `商机 ${i}`, amount: 1000 * i } },
        META,
      );
      expect(created.ok).toBe(true);
    }
    const updated = await service.writer.execute({ type: "UpdateOpportunity", opportunityCode: "OPP-MIG-2", fields: { stage: "won", description: "改" } }, META);
    expect(updated.ok).toBe(true);
  } finally {
    service.close();
  }
}

const tableNames = (db: Database) =>
  db
    .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all()
    .map((row) => row.name);

/** The numbers a message mentions. */
const numbersIn = (text: string) => (text.match(/\d+/g) ?? []).map(Number);

describe("databases made before migrations existed (user_version 0)", () => {
  test("a database made by the current schema but at version 0 is upgraded, events and projection intact", async () => {
    const path = dbPath();
    await populatedStore(path);
    const legacy = new Database(path);
    legacy.run("PRAGMA user_version = 0");
    const eventsBefore = eventRows(legacy);
    const rowsBefore = opportunityRows(legacy);
    legacy.close();
    expect(eventsBefore).toHaveLength(4);

    const service = openServiceStore(path);
    cleanups.push(() => service.close());
    expect(schemaVersionOf(service.db)).toBe(SCHEMA_VERSION);
    expect(eventRows(service.db)).toEqual(eventsBefore);
    expect(opportunityRows(service.db)).toEqual(rowsBefore);
    expect(verifyStore(service.db)).toMatchObject({ ok: true, events: 4, opportunities: 3 });
  });

  test("a database holding only the first release's tables is upgraded, and the store keeps writing on its chain", async () => {
    const path = dbPath();
    await populatedStore(path);
    // Back to what the first release left: the events and opportunities tables, user_version 0.
    const legacy = new Database(path);
    for (const name of tableNames(legacy).filter((name) => name !== "events" && name !== "opportunities")) legacy.run(`DROP TABLE ${name}`);
    legacy.run("PRAGMA user_version = 0");
    expect(tableNames(legacy)).toEqual(["events", "opportunities"]);
    const eventsBefore = eventRows(legacy);
    const rowsBefore = opportunityRows(legacy);
    legacy.close();

    const db = open(path);
    expect(migrate(db)).toEqual({ from: 0, to: SCHEMA_VERSION });
    expect(schemaVersionOf(db)).toBe(SCHEMA_VERSION);
    expect(eventRows(db)).toEqual(eventsBefore);
    expect(opportunityRows(db)).toEqual(rowsBefore);
    db.close();
    cleanups.pop();

    const service = openServiceStore(path);
    cleanups.push(() => service.close());
    const updated = await service.writer.execute({ type: "UpdateOpportunity", opportunityCode: "OPP-MIG-1", fields: { stage: "lost" } }, META);
    expect(updated).toMatchObject({ ok: true, appended: 1 });
    const rows = eventRows(service.db);
    expect(rows).toHaveLength(5);
    expect(rows.slice(0, 4)).toEqual(eventsBefore);
    expect(chainProblems(rows)).toEqual([]);
    expect(verifyStore(service.db).ok).toBe(true);
  });

  test("a new, empty file is brought to the current version with every migration's tables", () => {
    const db = open(dbPath());
    expect(schemaVersionOf(db)).toBe(0);
    expect(migrate(db)).toEqual({ from: 0, to: SCHEMA_VERSION });
    expect(tableNames(db)).toEqual(expect.arrayContaining(["events", "opportunities"]));
    // The version is recorded in the file, for the next connection too.
    const other = new Database(db.filename);
    cleanups.push(() => other.close());
    expect(schemaVersionOf(other)).toBe(SCHEMA_VERSION);
  });

  test("the migration list is in strictly increasing order and SCHEMA_VERSION is its last", () => {
    const versions = MIGRATIONS.map((migration) => migration.version);
    expect(versions[0]).toBe(1);
    for (let i = 1; i < versions.length; i++) expect(versions[i]!).toBe(versions[i - 1]! + 1);
    expect(SCHEMA_VERSION).toBe(versions[versions.length - 1]!);
  });
});

describe("migrate() with further migrations", () => {
  test("a current database is upgraded by an extra step, which records its version", async () => {
    const path = dbPath();
    await populatedStore(path);
    const db = open(path);
    const eventsBefore = eventRows(db);
    const extra: Migration = {
      version: SCHEMA_VERSION + 1,
      description: "test: a new table",
      up(target) {
        target.run("CREATE TABLE ops_test_extra (x INTEGER NOT NULL)");
        target.run("INSERT INTO ops_test_extra (x) VALUES (42)");
      },
    };
    expect(migrate(db, [...MIGRATIONS, extra])).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION + 1 });
    expect(schemaVersionOf(db)).toBe(SCHEMA_VERSION + 1);
    expect(db.query<{ x: number }, []>("SELECT x FROM ops_test_extra").all()).toEqual([{ x: 42 }]);
    expect(eventRows(db)).toEqual(eventsBefore);
    // Running it again does nothing.
    expect(migrate(db, [...MIGRATIONS, extra])).toEqual({ from: SCHEMA_VERSION + 1, to: SCHEMA_VERSION + 1 });
    expect(db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM ops_test_extra").get()!.n).toBe(1);
  });

  test("steps run in order, each only once, each inside its own transaction", () => {
    const db = open(dbPath());
    migrate(db);
    const seen: { version: number; inTransaction: boolean; versionBefore: number }[] = [];
    const step = (version: number): Migration => ({
      version,
      description: `test step ${version}`,
      up(target) {
        seen.push({ version, inTransaction: target.inTransaction, versionBefore: schemaVersionOf(target) });
      },
    });
    const steps = [...MIGRATIONS, step(SCHEMA_VERSION + 1), step(SCHEMA_VERSION + 2)];
    expect(migrate(db, steps)).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION + 2 });
    // Each step sees the version of the one before it already recorded.
    expect(seen).toEqual([
      { version: SCHEMA_VERSION + 1, inTransaction: true, versionBefore: SCHEMA_VERSION },
      { version: SCHEMA_VERSION + 2, inTransaction: true, versionBefore: SCHEMA_VERSION + 1 },
    ]);
    expect(migrate(db, steps)).toEqual({ from: SCHEMA_VERSION + 2, to: SCHEMA_VERSION + 2 });
    expect(seen).toHaveLength(2);
    expect(db.inTransaction).toBe(false);
  });

  test("a step that throws leaves the version where it was and nothing of the step", () => {
    const path = dbPath();
    const db = open(path);
    migrate(db);
    const failing: Migration = {
      version: SCHEMA_VERSION + 1,
      description: "test: fails half-way",
      up(target) {
        target.run("CREATE TABLE ops_half_done (x INTEGER)");
        target.run("INSERT INTO ops_half_done VALUES (1)");
        throw new Error("step failed");
      },
    };
    expect(() => migrate(db, [...MIGRATIONS, failing])).toThrow("step failed");
    expect(db.inTransaction).toBe(false);
    expect(schemaVersionOf(db)).toBe(SCHEMA_VERSION);
    expect(tableNames(db)).not.toContain("ops_half_done");
    // The same seen from another connection: nothing of the step reached the file.
    const other = new Database(path);
    cleanups.push(() => other.close());
    expect(schemaVersionOf(other)).toBe(SCHEMA_VERSION);
    expect(tableNames(other)).not.toContain("ops_half_done");
  });

  test("when the second of two steps throws, the first stays applied and recorded", () => {
    const path = dbPath();
    const db = open(path);
    migrate(db);
    const steps: Migration[] = [
      ...MIGRATIONS,
      { version: SCHEMA_VERSION + 1, description: "test: works", up: (target) => target.run("CREATE TABLE ops_step_one (x INTEGER)") },
      {
        version: SCHEMA_VERSION + 2,
        description: "test: fails",
        up(target) {
          target.run("CREATE TABLE ops_step_two (x INTEGER)");
          target.run("SELECT * FROM no_such_table");
        },
      },
    ];
    expect(() => migrate(db, steps)).toThrow(/no_such_table/);
    expect(schemaVersionOf(db)).toBe(SCHEMA_VERSION + 1);
    const tables = tableNames(db);
    expect(tables).toContain("ops_step_one");
    expect(tables).not.toContain("ops_step_two");
    const other = new Database(path);
    cleanups.push(() => other.close());
    expect(schemaVersionOf(other)).toBe(SCHEMA_VERSION + 1);
  });
});

describe("a database newer than the binary", () => {
  test("migrate() refuses it with SchemaTooNewError naming both versions, and changes nothing", () => {
    const db = open(dbPath());
    db.run(`PRAGMA user_version = ${SCHEMA_VERSION + 3}`);
    let error: unknown;
    try {
      migrate(db);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(SchemaTooNewError);
    const numbers = numbersIn((error as Error).message);
    expect(numbers).toContain(SCHEMA_VERSION + 3);
    expect(numbers).toContain(SCHEMA_VERSION);
    expect(schemaVersionOf(db)).toBe(SCHEMA_VERSION + 3);
    // Not even the first migration's tables were created.
    expect(tableNames(db)).toEqual([]);
  });

  test("assertSchemaSupported: equal or older is fine, newer is refused", () => {
    const db = open(dbPath());
    db.run("PRAGMA user_version = 5");
    expect(assertSchemaSupported(db, 5)).toBe(5);
    expect(assertSchemaSupported(db, 6)).toBe(5);
    expect(() => assertSchemaSupported(db, 4)).toThrow(SchemaTooNewError);
    expect(() => assertSchemaSupported(db, 4)).toThrow(/\b5\b.*\b4\b/s);
  });

  test("openServiceStore refuses it too, and leaves the file untouched and unlocked", async () => {
    const path = dbPath();
    await populatedStore(path);
    const newer = new Database(path);
    newer.run(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    const eventsBefore = eventRows(newer);
    newer.close();

    let error: unknown;
    try {
      openServiceStore(path).close();
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(SchemaTooNewError);
    const numbers = numbersIn((error as Error).message);
    expect(numbers).toContain(SCHEMA_VERSION + 1);
    expect(numbers).toContain(SCHEMA_VERSION);

    // The database is untouched, and no lock is left behind: another connection can write at once.
    const after = new Database(path);
    cleanups.push(() => after.close());
    after.run("PRAGMA busy_timeout = 0");
    expect(schemaVersionOf(after)).toBe(SCHEMA_VERSION + 1);
    expect(eventRows(after)).toEqual(eventsBefore);
    after.run("BEGIN IMMEDIATE");
    after.run("ROLLBACK");
  });

  test("a database upgraded by a newer migration list is refused by this binary's openServiceStore", () => {
    const path = dbPath();
    const db = open(path);
    migrate(db, [...MIGRATIONS, { version: SCHEMA_VERSION + 1, description: "test: future", up: () => {} }]);
    db.close();
    cleanups.pop();
    expect(() => openServiceStore(path)).toThrow(SchemaTooNewError);
  });
});
