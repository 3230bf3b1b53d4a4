import type { Database } from "bun:sqlite";
import type { EventRow, StoredEvent } from "../../../events/stored-event";
import type { Opportunity } from "../../../projections/opportunity-state";
import { fileProbe, Readiness } from "../../readiness";
import { StorageUnavailableError } from "../../storage-errors";
import type { BatchPlan, BatchSnapshot, SnapshotNeeds } from "../../write/batch-plan";
import type { CommittedBatch, FoldInput, Head, Storage } from "../port";
import { SqliteBatchCommits } from "./batch-commit";
import { watchCommits } from "./commit-watch";
import { BUSY_TIMEOUT_MS, openDatabase } from "./database";
import { SqliteEventReads } from "./event-reads";
import { IdempotencyKeys } from "./idempotency-keys";
import { OpportunitiesTable } from "./opportunity-rows";
import { migrate } from "./schema";

export interface SqliteStorageOptions {
  /** Open the file for reading only (every write then fails as SQLITE_READONLY); no migration. */
  readonly?: boolean;
}

/**
 * The embedded backend: one SQLite file, reached through bun:sqlite on this thread. Every answer is ready at
 * once, so the port's async methods wrap synchronous work, and the synchronous parts stay reachable for the
 * callers that run on the same thread as the database (the HTTP thread's reads, the lone-request path, the CLI).
 */
export class SqliteStorage implements Storage {
  readonly kind = "sqlite" as const;
  /** Synchronous event reads on this connection. */
  readonly events: SqliteEventReads;
  /** The `opportunities` projection on this connection. */
  readonly opportunities: OpportunitiesTable;
  private readonly keys: IdempotencyKeys;
  private readonly batches: SqliteBatchCommits;
  /** What /readyz says; a writer on another connection (the writer thread) reports its outcomes here. */
  readonly health: Readiness;
  private closed = false;

  constructor(
    readonly db: Database,
    readonly location: string,
  ) {
    this.events = new SqliteEventReads(db);
    this.opportunities = new OpportunitiesTable(db);
    this.keys = new IdempotencyKeys(db);
    this.batches = new SqliteBatchCommits(db, this.opportunities, this.keys);
    this.health = new Readiness(db, fileProbe(location));
  }

  async head(): Promise<Head | null> {
    return this.events.head();
  }

  async streamVersion(streamId: string): Promise<number> {
    return this.events.streamVersion(streamId);
  }

  async readStreamPage(streamId: string, afterVersion: number, limit: number): Promise<StoredEvent[]> {
    return this.events.readStreamPage(streamId, afterVersion, limit);
  }

  async readAll(afterPosition: number, limit: number): Promise<StoredEvent[]> {
    return this.events.readAll(afterPosition, limit);
  }

  async readRowsAfter(afterPosition: number, limit: number): Promise<EventRow[]> {
    return this.events.readRowsAfter(afterPosition, limit);
  }

  async readFoldInputs(streamId: string, afterVersion: number, throughVersion: number, limit: number): Promise<FoldInput[]> {
    return this.events.readFoldInputs(streamId, afterVersion, throughVersion, limit);
  }

  async firstVersionRecordedAfter(streamId: string, recordedAt: string, afterVersion: number, throughVersion: number): Promise<number | null> {
    return this.events.firstVersionRecordedAfter(streamId, recordedAt, afterVersion, throughVersion);
  }

  async findOpportunity(code: string): Promise<Opportunity | null> {
    return this.opportunities.find(code);
  }

  async countOpportunities(): Promise<number> {
    return this.opportunities.count();
  }

  async readSnapshot(needs: SnapshotNeeds): Promise<BatchSnapshot> {
    return this.batches.readSnapshotUnlocked(needs);
  }

  async commitBatch(needs: SnapshotNeeds, decide: (snapshot: BatchSnapshot) => BatchPlan): Promise<CommittedBatch> {
    return this.commitBatchNow(needs, decide);
  }

  /**
   * commitBatch, synchronously. `lockFree` fails at once (StorageUnavailableError, lockHeld) instead of waiting
   * out the busy timeout when another connection holds the write lock: for a thread that must not block on it.
   */
  commitBatchNow(needs: SnapshotNeeds, decide: (snapshot: BatchSnapshot) => BatchPlan, options: { lockFree?: boolean } = {}): CommittedBatch {
    // Run afresh each time, not as prepared statements: SQLite applies this pragma when it compiles it.
    if (options.lockFree) this.db.run("PRAGMA busy_timeout = 0");
    try {
      const committed = this.batches.commit(needs, decide);
      this.health.noteCommit();
      return committed;
    } catch (error) {
      if (error instanceof StorageUnavailableError) this.health.noteStorageFailure(error);
      throw error;
    } finally {
      if (options.lockFree) this.db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  async pruneIdempotencyKeys(before: string, limit: number): Promise<number> {
    return this.batches.pruneIdempotencyKeys(before, limit);
  }

  watchCommits(onCommit: () => void): Promise<() => Promise<void>> {
    return watchCommits(this.location, onCommit);
  }

  async readiness(): Promise<string | null> {
    return this.health.problem();
  }

  async close(): Promise<{ checkpointed: boolean; checkpointError?: string }> {
    return this.closeNow();
  }

  /**
   * Checkpoints the WAL (when it can) and closes; says whether the checkpoint ran. Folding the WAL back into the
   * file makes a copied .db file complete on its own. Housekeeping only: every commit is already durable in the
   * WAL, so a checkpoint that cannot run (disk full) must not stop the database from closing; SQLite replays
   * the WAL at the next open.
   */
  closeNow(): { checkpointed: boolean; checkpointError?: string } {
    if (this.closed) return { checkpointed: true };
    this.closed = true;
    let checkpointError: string | undefined;
    try {
      this.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (error) {
      checkpointError = (error as Error).message;
    }
    this.batches.finalize();
    this.keys.finalize();
    this.opportunities.finalize();
    this.db.close();
    return { checkpointed: checkpointError === undefined, checkpointError };
  }
}

/** Opens (creating or upgrading) the database file; throws SchemaTooNewError for a database of a newer binary. */
export function openSqliteStorage(path: string, options: SqliteStorageOptions = {}): SqliteStorage {
  const db = openDatabase(path, options);
  try {
    if (!options.readonly) migrate(db);
    return new SqliteStorage(db, path);
  } catch (error) {
    db.close();
    throw error;
  }
}
