import type { Database } from "bun:sqlite";
import { OpportunityWriter, type WriterOptions } from "./opportunity-writer";
import type { SqliteEventReads } from "./storage/sqlite/event-reads";
import type { OpportunitiesTable } from "./storage/sqlite/opportunity-rows";
import { openSqliteStorage, type SqliteStorage } from "./storage/sqlite/storage";
import { leaveCheckpointsToThread } from "./storage/sqlite/wal-checkpoints";

/** The SQLite storage with its write path wired: what serve and import share. */
export interface ServiceStore {
  db: Database;
  storage: SqliteStorage;
  /** The storage's synchronous event reads. */
  store: SqliteEventReads;
  opportunities: OpportunitiesTable;
  writer: OpportunityWriter;
  /** Checkpoints the WAL (when it can) and closes; says whether the checkpoint ran. */
  close(): { checkpointed: boolean; checkpointError?: string };
}

export interface ServiceStoreOptions {
  now?: () => Date;
  writer?: WriterOptions;
  readonly?: boolean;
  /** A checkpointer thread copies the WAL back (storage/sqlite/wal-checkpoints.ts): commits here need not. */
  checkpointThread?: boolean;
}

/** Opens (creating or upgrading) the database; throws SchemaTooNewError for a database of a newer binary. */
export function openServiceStore(path: string, options: ServiceStoreOptions = {}): ServiceStore {
  const storage = openSqliteStorage(path, { readonly: options.readonly });
  if (options.checkpointThread) leaveCheckpointsToThread(storage.db);
  const writer = new OpportunityWriter(storage, { now: options.now, ...options.writer });
  return { db: storage.db, storage, store: storage.events, opportunities: storage.opportunities, writer, close: () => storage.closeNow() };
}
