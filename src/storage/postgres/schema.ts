import type { SQL, TransactionSQL } from "bun";
import { GENESIS_HASH } from "../../../events/hash-chain";
import { SchemaTooNewError } from "../port";
import { CREATE_IDEMPOTENCY_TABLES } from "./idempotency-keys";
import { CREATE_OPPORTUNITIES_TABLE } from "./opportunity-rows";

/**
 * The PostgreSQL schema: the same columns as on SQLite (so an export moves between them and keeps its head),
 * plus `event_head`, the one row whose lock orders the batches of every instance, and `schema_version`, the
 * version reached (SQLite keeps it in user_version). Migrations run at start in one transaction under a
 * transaction-scoped advisory lock: two instances starting together on an empty database take turns, and the
 * second finds the work done. PostgreSQL's versions are numbered on their own, from 1.
 */
export interface PostgresMigration {
  version: number;
  description: string;
  up: (tx: TransactionSQL) => Promise<unknown>;
}

/** The events table: `data` and `metadata` are text, the hashed bytes (json/jsonb would round 64-bit IDs and rewrite them). */
const CREATE_EVENTS = `
CREATE TABLE events (
  position       int8 PRIMARY KEY CHECK (position >= 1),
  event_id       text NOT NULL UNIQUE,
  stream_id      text NOT NULL,
  version        int8 NOT NULL CHECK (version >= 1),
  type           text NOT NULL,
  schema_version int4 NOT NULL,
  data           text NOT NULL,
  metadata       text NOT NULL,
  recorded_at    text NOT NULL,
  prev_hash      text NOT NULL,
  hash           text NOT NULL,
  UNIQUE (stream_id, version)
);
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP;
END
$$;
-- Statement-level, so that even an UPDATE or DELETE that matches no row is refused; TRUNCATE fires no row trigger.
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
CREATE TABLE event_head (
  one      boolean PRIMARY KEY DEFAULT true CHECK (one),
  position int8 NOT NULL,
  hash     text NOT NULL
);
INSERT INTO event_head (one, position, hash) VALUES (true, 0, '${GENESIS_HASH}')`;

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    description: "events (append-only triggers, hash chain columns), the head row, the opportunities projection, idempotency keys and their per-client counts",
    up: (tx) => tx.unsafe(`${CREATE_EVENTS};\n${CREATE_OPPORTUNITIES_TABLE};\n${CREATE_IDEMPOTENCY_TABLES}`).simple(),
  },
];

export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]!.version;

/** Any constant both instances agree on: the advisory lock that serialises migrations. */
const MIGRATION_LOCK = 0x6f70_7073_6368_656dn;

/** The version recorded in the database; 0 before any migration. One query: readiness probes run it. */
export async function schemaVersionOf(sql: SQL): Promise<number> {
  try {
    const [row] = await sql`SELECT version FROM schema_version`;
    return row ? Number(row.version) : 0;
  } catch (error) {
    if ((error as { errno?: string }).errno === "42P01") return 0;
    throw error;
  }
}

/** Brings the database up to the newest schema; returns the versions before and after. Refuses a newer one. */
export async function migrate(sql: SQL, migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<{ from: number; to: number }> {
  return sql.begin((tx) => migrateIn(tx, migrations));
}

/** The migration inside a transaction of the caller's (restore builds the schema and the data in one). */
export async function migrateIn(tx: TransactionSQL, migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<{ from: number; to: number }> {
  const latest = migrations[migrations.length - 1]!.version;
  // The session's lock_timeout is sized for the head row; another instance's migration may take longer.
  await tx`SET LOCAL lock_timeout = '5min'`;
  await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK.toString()}::int8)`;
  await tx`CREATE TABLE IF NOT EXISTS schema_version (one boolean PRIMARY KEY DEFAULT true CHECK (one), version int4 NOT NULL)`;
  const [row] = await tx`SELECT version FROM schema_version`;
  const from = row ? Number(row.version) : 0;
  if (from > latest) {
    throw new SchemaTooNewError(
      `the database has schema version ${from}, newer than this binary supports (${latest}): ` +
        "run the newer opportunity-service that wrote it, or restore a backup taken before the upgrade",
    );
  }
  for (const migration of migrations) if (migration.version > from) await migration.up(tx);
  if (latest > from) await tx`INSERT INTO schema_version (one, version) VALUES (true, ${latest}) ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version`;
  return { from, to: Math.max(from, latest) };
}
