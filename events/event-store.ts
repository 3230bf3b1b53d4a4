import type { Database, Statement } from "bun:sqlite";
import { appendToStream, prepareInsert, readChainCursor, type ChainCursor, type SchemaVersionOf } from "./append";
import { createEventTable } from "./event-table";
import type { EventMetadata } from "./opportunity-events";
import { readAllAfter, readHead, readStream, readStreamPage } from "./read";
import type { EventRow, NewEvent, StoredEvent } from "./stored-event";

/**
 * Folds each appended event into a read model, in the transaction that appends it. Registered once with the
 * store, so that no write path can append an event and forget the projection.
 */
export type Projector = (db: Database, event: StoredEvent) => void;

export interface WriteTransaction {
  /** Appends to one stream if it is still at `expectedVersion` (else ConcurrencyError), and projects. */
  append(streamId: string, expectedVersion: number, events: readonly NewEvent[], metadata: EventMetadata): StoredEvent[];
  /**
   * Runs `work` in a savepoint: if it throws, its appends and projections are undone and the error is
   * rethrown, while the rest of the transaction stands. When the failure took the whole transaction with it
   * (SQLite rolls back everything on a full disk), the error is rethrown as is.
   */
  attempt<T>(work: () => T): T;
  readonly db: Database;
}

export interface EventStoreOptions {
  projectors: readonly Projector[];
  schemaVersionOf: SchemaVersionOf;
  /** The clock for `recorded_at`; tests pass a fixed one. */
  now?: () => Date;
}

export class EventStore {
  private readonly insert: Statement<unknown, [EventRow]>;
  private readonly savepoint: Statement;
  private readonly release: Statement;
  private readonly rollbackToSavepoint: Statement;
  private readonly now: () => Date;

  constructor(
    readonly db: Database,
    private readonly options: EventStoreOptions,
  ) {
    createEventTable(db);
    this.insert = prepareInsert(db);
    this.savepoint = db.prepare("SAVEPOINT attempt");
    this.release = db.prepare("RELEASE attempt");
    this.rollbackToSavepoint = db.prepare("ROLLBACK TO attempt");
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Runs `work` in one `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so a decision made
   * from state read inside `work` cannot be overtaken by another writer before it commits. Anything thrown
   * rolls back every append and projection of the transaction.
   */
  write<T>(work: (tx: WriteTransaction) => T): T {
    const run = this.db.transaction(() => {
      const recordedAt = this.now().toISOString();
      let chain: ChainCursor | undefined;
      const tx: WriteTransaction = {
        db: this.db,
        append: (streamId, expectedVersion, events, metadata) => {
          chain ??= readChainCursor(this.db);
          const stored = appendToStream(this.db, this.insert, this.options.schemaVersionOf, streamId, expectedVersion, events, metadata, recordedAt, chain);
          for (const event of stored) for (const project of this.options.projectors) project(this.db, event);
          return stored;
        },
        attempt: (attemptWork) => {
          const saved = chain ? { ...chain } : undefined;
          this.savepoint.run();
          try {
            const result = attemptWork();
            this.release.run();
            return result;
          } catch (error) {
            if (!this.db.inTransaction) throw error;
            this.rollbackToSavepoint.run();
            this.release.run();
            chain = saved;
            throw error;
          }
        },
      };
      return work(tx);
    });
    return run.immediate();
  }

  readStream(streamId: string): StoredEvent[] {
    return readStream(this.db, streamId);
  }

  /** Up to `limit` events of one stream after `afterVersion`, in version order. */
  readStreamPage(streamId: string, afterVersion: number, limit: number): StoredEvent[] {
    return readStreamPage(this.db, streamId, afterVersion, limit);
  }

  readAll(afterPosition = 0, limit = 1000): StoredEvent[] {
    return readAllAfter(this.db, afterPosition, limit);
  }

  head(): { position: number; hash: string } | null {
    return readHead(this.db);
  }
}
