import { parseDatabaseLocation } from "../storage/location";
import type { Storage } from "../storage/port";
import { openPostgresStorage, type PostgresStorage } from "../storage/postgres/storage";
import { openSqliteStorage, SqliteStorage } from "../storage/sqlite/storage";
import { GroupCommit } from "../write/group-commit";
import { OpportunityWriter } from "../opportunity-writer";
import { openExistingDatabase, openReadOnlyDatabase, type DatabaseSettings } from "./shared-options";

/**
 * The database a CLI command works on, from `--db` / DB_PATH / DATABASE_URL: a SQLite file (which must exist:
 * a typo is a mistake, not a new empty database) or PostgreSQL. Commands that only read open a SQLite file
 * read-only (so they work on a read-only mount).
 */
export async function openCommandStorage(settings: DatabaseSettings, options: { readOnly?: boolean; create?: boolean }): Promise<Storage> {
  const location = parseDatabaseLocation(settings.dbPath);
  if (location.kind === "postgres") return openPostgresStorage(location.url);
  // `import` may fill a new file: created and migrated like the service does.
  if (options.create) return openSqliteStorage(location.path);
  const db = options.readOnly ? openReadOnlyDatabase(location.path) : openExistingDatabase(location.path);
  return new SqliteStorage(db, location.path);
}

/** The write path of a command over its storage: SQLite's own writer, or the group-commit queue. */
export function commandWriter(storage: Storage): GroupCommit {
  return storage instanceof SqliteStorage ? new OpportunityWriter(storage) : new GroupCommit(storage);
}

/**
 * The PostgreSQL database of a command that checks, repairs or restores it (verify, rebuild, backup, restore): opened
 * as it is, without migrating: checking never changes the schema it checks, and restore builds it in its own transaction.
 */
export function openPostgresAsIs(url: string): Promise<PostgresStorage> {
  return openPostgresStorage(url, { migrate: false, poolSize: 2 });
}
