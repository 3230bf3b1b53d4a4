import type { Database } from "bun:sqlite";
import { createEventTable } from "../events/event-table";
import { createOpportunitiesTable } from "../projections/opportunities-table";
import { addIdempotencyProof, createIdempotencyTable } from "./idempotency";

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

export class SchemaTooNewError extends Error {}

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
