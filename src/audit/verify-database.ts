import { Database } from "bun:sqlite";
import { MIGRATIONS, schemaVersionOf } from "../storage/sqlite/schema";
import type { FindingList } from "./verify-findings";

interface SchemaObject {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

const OBJECTS = "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name";

/**
 * A definition without what does not change its meaning: runs of white space, the object's own name (a
 * rebuilt table is renamed into place, and SQLite then quotes it) and IF NOT EXISTS.
 */
function normalizeSql(sql: string | null): string {
  return (sql ?? "")
    .replace(/\s+/g, " ")
    .replace(/\s*([(),])\s*/g, "$1")
    .replace(/^CREATE (TABLE|TRIGGER|INDEX|UNIQUE INDEX) (IF NOT EXISTS )?("[^"]*"|\S+?)(?=[ (])/i, "CREATE $1 _")
    .trim();
}

/** The unique constraints and indexes of a table, by what they cover (autoindex names are SQLite's choice). */
function indexShapes(db: Database, table: string): string[] {
  const quoted = `"${table.replaceAll('"', '""')}"`;
  const indexes = db.query<{ name: string; unique: number; origin: string; partial: number }, []>(`PRAGMA index_list(${quoted})`).all();
  return indexes
    .map((index) => {
      const columns = db.query<{ name: string }, []>(`PRAGMA index_info("${index.name.replaceAll('"', '""')}")`).all();
      return `${index.unique ? "unique " : ""}${index.origin}${index.partial ? " partial" : ""} (${columns.map((c) => c.name).join(", ")})`;
    })
    .sort();
}

/** The schema this binary creates up to `version`, built in memory by the migrations themselves. */
function expectedSchema(version: number): Database {
  const expected = new Database(":memory:");
  for (const migration of MIGRATIONS) if (migration.version <= version) migration.up(expected);
  return expected;
}

/**
 * The schema of the file against the one this binary creates for its schema version: every table with its
 * columns, constraints and indexes, every trigger (the append-only guards) with its definition, and no trigger
 * of anyone else's (one could rewrite what the service inserts).
 */
function schemaFindings(db: Database, findings: FindingList): void {
  // Databases made before migrations existed (version 0) already hold the first migration's objects.
  const expected = expectedSchema(Math.max(1, schemaVersionOf(db)));
  try {
    const actual = new Map(db.query<SchemaObject, []>(OBJECTS).all().map((object) => [object.name, object]));
    const wanted = expected.query<SchemaObject, []>(OBJECTS).all();
    for (const object of wanted) {
      const found = actual.get(object.name);
      const what = `${object.type} ${object.name}`;
      if (!found || found.type !== object.type) {
        findings.add({ position: 0, at: "schema", reason: `${what} is missing${object.type === "trigger" ? ": the table is no longer guarded" : ""}` });
      } else if (normalizeSql(found.sql) !== normalizeSql(object.sql) || found.tbl_name !== object.tbl_name) {
        findings.add({ position: 0, at: "schema", reason: `${what} is not defined as this binary defines it: ${found.sql}` });
      } else if (object.type === "table" && indexShapes(db, object.name).join("; ") !== indexShapes(expected, object.name).join("; ")) {
        findings.add({ position: 0, at: "schema", reason: `${what} lacks unique constraints or indexes this binary relies on, or has others` });
      }
    }
    const names = new Set(wanted.map((object) => object.name));
    for (const object of actual.values()) {
      if (object.type === "trigger" && !names.has(object.name)) {
        findings.add({ position: 0, at: "schema", reason: `unexpected trigger ${object.name} on ${object.tbl_name}: ${object.sql}` });
      }
    }
  } finally {
    expected.close();
  }
}

/** SQLite's own check of the file: every page, index entry and constraint (up to its first 100 errors). */
function integrityFindings(db: Database, findings: FindingList): void {
  const rows = db.query<{ integrity_check: string }, []>("PRAGMA integrity_check").all();
  for (const row of rows) {
    if (row.integrity_check !== "ok") findings.add({ position: 0, at: "database", reason: `integrity_check: ${row.integrity_check}` });
  }
}

/** The database file itself: its integrity, then its schema. */
export function databaseFindings(db: Database, findings: FindingList): void {
  findings.run("database", () => integrityFindings(db, findings));
  findings.run("schema", () => schemaFindings(db, findings));
}
