import type { Database, Statement } from "bun:sqlite";
import { appendToStream, prepareInsert, readChainCursor, type ChainCursor, type SchemaVersionOf } from "./append";
import { createEventTable } from "./event-table";
import type { EventMetadata } from "./opportunity-events";
import { readAllAfter, readHead, readStream, readStreamPage, streamVersion } from "./read";
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

/** Stream versions known to the transaction: its own appends over what was committed, else the database. */
class CachedChain implements ChainCursor {
  private readonly overlay = new Map<string, number>();
  /** While a savepoint is open: where the chain stood, and the stream versions it changed since. */
  private attempt: { position: number; hash: string; undo: [streamId: string, previous: number | undefined][] } | undefined;

  constructor(
    private readonly db: Database,
    public position: number,
    public hash: string,
    private readonly known: Map<string, number>,
  ) {}

  streamVersion(streamId: string): number {
    const version = this.overlay.get(streamId) ?? this.known.get(streamId);
    if (version !== undefined) return version;
    // Not appended to by this transaction, so this is the committed version: worth remembering.
    const committed = streamVersion(this.db, streamId);
    this.known.set(streamId, committed);
    return committed;
  }

  setStreamVersion(streamId: string, version: number): void {
    this.attempt?.undo.push([streamId, this.overlay.get(streamId)]);
    this.overlay.set(streamId, version);
  }

  /**
   * Marks where a savepoint begins: from here, what changes is logged so that it can be taken back. A log
   * of the few changes of one command, not a copy of the whole batch's overlay per command.
   */
  beginAttempt(): void {
    this.attempt = { position: this.position, hash: this.hash, undo: [] };
  }

  endAttempt(): void {
    this.attempt = undefined;
  }

  /** Back to where the savepoint began, as ROLLBACK TO did to the database. */
  rollbackAttempt(): void {
    const attempt = this.attempt;
    if (!attempt) return;
    for (let index = attempt.undo.length - 1; index >= 0; index--) {
      const [streamId, previous] = attempt.undo[index]!;
      if (previous === undefined) this.overlay.delete(streamId);
      else this.overlay.set(streamId, previous);
    }
    this.position = attempt.position;
    this.hash = attempt.hash;
    this.attempt = undefined;
  }

  /** After the commit: what the next transaction may trust, if the head has not moved by then. */
  commit(): { position: number; hash: string; versions: Map<string, number> } {
    // Bounded: beyond this many streams, start over rather than hold them all.
    const versions = this.known.size > 200_000 ? new Map<string, number>() : this.known;
    for (const [streamId, version] of this.overlay) versions.set(streamId, version);
    return { position: this.position, hash: this.hash, versions };
  }
}

export class EventStore {
  private readonly insert: Statement<unknown, [EventRow]>;
  private readonly savepoint: Statement;
  private readonly release: Statement;
  private readonly rollbackToSavepoint: Statement;
  private readonly now: () => Date;
  /** The head and stream versions as of this store's last commit. */
  private committed: { position: number; hash: string; versions: Map<string, number> } | undefined;

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
    let chain: CachedChain | undefined;
    const run = this.db.transaction(() => {
      const recordedAt = this.now().toISOString();
      const tx: WriteTransaction = {
        db: this.db,
        append: (streamId, expectedVersion, events, metadata) => {
          chain ??= this.openChain();
          const stored = appendToStream(this.db, this.insert, this.options.schemaVersionOf, streamId, expectedVersion, events, metadata, recordedAt, chain);
          for (const event of stored) for (const project of this.options.projectors) project(this.db, event);
          return stored;
        },
        attempt: (attemptWork) => {
          const opened = chain;
          opened?.beginAttempt();
          this.savepoint.run();
          try {
            const result = attemptWork();
            this.release.run();
            opened?.endAttempt();
            return result;
          } catch (error) {
            if (!this.db.inTransaction) throw error;
            this.rollbackToSavepoint.run();
            this.release.run();
            // A chain first read inside the failed attempt holds its appends: read it again when needed.
            if (opened) opened.rollbackAttempt();
            else chain = undefined;
            throw error;
          }
        },
      };
      return work(tx);
    });
    try {
      const result = run.immediate();
      if (chain) this.committed = chain.commit();
      return result;
    } catch (error) {
      // Whatever the transaction did is gone; so is what we knew of the chain.
      this.committed = undefined;
      throw error;
    }
  }

  /**
   * The chain at the start of a transaction. What the last transaction of this store knew of stream versions
   * is kept only if the head is still where it left it, i.e. no other process appended since.
   */
  private openChain(): CachedChain {
    const head = readChainCursor(this.db);
    const known = this.committed && this.committed.position === head.position && this.committed.hash === head.hash ? this.committed.versions : new Map<string, number>();
    return new CachedChain(this.db, head.position, head.hash, known);
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
