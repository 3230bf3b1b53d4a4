import { FIELD_COLUMNS } from "../opportunity-columns";
import type { Database } from "bun:sqlite";
import { OPPORTUNITY_FIELD_NAMES, OPPORTUNITY_FIELDS } from "../../../events/opportunity-events";
import { SchemaTooNewError } from "../port";

/**
 * The append-only `events` table. `position` is assigned by the writer inside its transaction (last + 1), so
 * it has no gaps; triggers make UPDATE and DELETE raise, which guards against bugs; the hash chain is what lets
 * an auditor detect tampering by someone who drops the triggers.
 */
export function createEventTable(db: Database): void {
  db.run(`CREATE TABLE IF NOT EXISTS events (
    position        INTEGER PRIMARY KEY,
    event_id        TEXT    NOT NULL UNIQUE,
    stream_id       TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    type            TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    data            TEXT    NOT NULL,
    metadata        TEXT    NOT NULL,
    recorded_at     TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL,
    UNIQUE (stream_id, version)
  )`);
  db.run(`CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END`);
  db.run(`CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END`);
}

export const OPPORTUNITIES_TABLE = "opportunities";

const SQL_TYPE = { text: "TEXT", number: "REAL", integer: "INTEGER", boolean: "INTEGER" } as const;

export { FIELD_COLUMNS } from "../opportunity-columns";

/** Every column of the projection, in table order. */
export const OPPORTUNITY_COLUMNS = ["id", "code", "end_customer_name", ...OPPORTUNITY_FIELD_NAMES.map((name) => FIELD_COLUMNS[name]), "version", "created_at", "updated_at"];

/** The `opportunities` projection (or a staging table of the same shape, for a rebuild). */
export function createOpportunitiesTable(db: Database, table = OPPORTUNITIES_TABLE): void {
  const fieldColumns = OPPORTUNITY_FIELD_NAMES.map((name) => `${FIELD_COLUMNS[name]} ${SQL_TYPE[OPPORTUNITY_FIELDS[name]]}`);
  db.run(`CREATE TABLE IF NOT EXISTS ${table} (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    end_customer_name TEXT NOT NULL,
    ${fieldColumns.join(",\n    ")},
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  )`);
}

/**
 * Idempotency keys: a client that retries a write with the same `Idempotency-Key` gets the first answer
 * again and nothing is applied twice. Each key is kept per client, with a fingerprint of the request it was
 * first used for, the outcome, and where in the event chain that outcome was reached (its proof, checked by
 * `verify`). It is saved in the same transaction as the events of that request, so a crash can never leave the
 * one without the other.
 */
export function createIdempotencyTable(db: Database): void {
  // The shape of schema version 2, kept as it was: migration 3 adds to it (see addIdempotencyProof).
  db.run(`CREATE TABLE IF NOT EXISTS idempotency_keys (
    client      TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (client, key)
  ) WITHOUT ROWID`);
  db.run("CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at)");
}

/** The columns that tie a stored outcome to the events (NULL in rows stored before schema version 3). */
export const PROOF_COLUMNS = { stream_id: "TEXT", position: "INTEGER", appended: "INTEGER" } as const;

/** How many keys per client are held, hour by hour: counting them is then a sum over a few rows, not a scan. */
const createKeyCounts = `CREATE TABLE idempotency_key_counts (
  client     TEXT    NOT NULL,
  bucket_end TEXT    NOT NULL,
  keys       INTEGER NOT NULL,
  PRIMARY KEY (client, bucket_end)
) WITHOUT ROWID`;

const tableExists = (db: Database, name: string) =>
  db.query<{ n: number }, [string]>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?").get(name)!.n > 0;

/**
 * Schema version 3: the proof columns, and the per-client key counts filled from the keys already held (by the
 * hour each was first used, the narrowest bucket the writer uses). Idempotent, like the earlier steps, for
 * databases that already hold part of it.
 */
export function addIdempotencyProof(db: Database): void {
  const columns = new Set(db.query<{ name: string }, []>("PRAGMA table_info(idempotency_keys)").all().map((column) => column.name));
  for (const [name, type] of Object.entries(PROOF_COLUMNS)) {
    if (!columns.has(name)) db.run(`ALTER TABLE idempotency_keys ADD COLUMN ${name} ${type}`);
  }
  if (tableExists(db, "idempotency_key_counts")) return;
  db.run(createKeyCounts);
  db.run(`INSERT INTO idempotency_key_counts (client, bucket_end, keys)
    SELECT client, strftime('%Y-%m-%dT%H:00:00.000Z', created_at, '+1 hour') AS bucket, COUNT(*) FROM idempotency_keys
    WHERE bucket IS NOT NULL GROUP BY client, bucket`);
}

/**
 * The database's schema, as an ordered list of migrations. The version reached is recorded in SQLite's
 * `user_version`, so a newer binary upgrades an older database at start (each step in its own transaction),
 * and an older binary refuses a database made by a newer one instead of misreading it.
 */
export interface Migration {
  version: number;
  description: string;
  up: (db: Database) => void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    // Idempotent on purpose: databases made before migrations existed (user_version 0) already hold these.
    description: "events table (append-only triggers, hash chain columns) and the opportunities projection",
    up(db) {
      createEventTable(db);
      createOpportunitiesTable(db);
    },
  },
  {
    version: 2,
    description: "idempotency_keys: the first outcome of each client's Idempotency-Key, kept for the retry window",
    up: createIdempotencyTable,
  },
  {
    version: 3,
    // Rows stored before keep NULL proof columns: verify checks them the weaker way until they expire.
    description: "idempotency_keys: where each outcome was reached (stream, position, events appended); per-client key counts for the cap",
    up: addIdempotencyProof,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export function schemaVersionOf(db: Database): number {
  return db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version;
}

/** Refuses a database whose schema is newer than `latest` (this binary's). */
export function assertSchemaSupported(db: Database, latest = SCHEMA_VERSION): number {
  const version = schemaVersionOf(db);
  if (version > latest) {
    throw new SchemaTooNewError(
      `the database has schema version ${version}, newer than this binary supports (${latest}): ` +
        "run the newer opportunity-service that wrote it, or restore a backup taken before the upgrade",
    );
  }
  return version;
}

/** Brings the database up to the newest schema; returns the versions before and after. */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): { from: number; to: number } {
  const latest = migrations[migrations.length - 1]!.version;
  const from = assertSchemaSupported(db, latest);
  for (const migration of migrations) {
    if (migration.version <= schemaVersionOf(db)) continue;
    db.transaction(() => {
      migration.up(db);
      // user_version lives in the database header, written by this same transaction: all or nothing.
      db.run(`PRAGMA user_version = ${migration.version}`);
    }).immediate();
  }
  return { from, to: schemaVersionOf(db) };
}
