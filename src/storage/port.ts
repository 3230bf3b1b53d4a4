import type { EventRow, StoredEvent } from "../../events/stored-event";
import type { FoldableEvent, Opportunity } from "../../projections/opportunity-state";
import type { BatchPlan, BatchSnapshot, SnapshotNeeds } from "../write/batch-plan";

/**
 * What the service needs of a database, whichever it is: SQLite (a file, the embedded default) or PostgreSQL
 * (several instances behind a load balancer). One adapter per backend, in `src/storage/sqlite/` and
 * `src/storage/postgres/`, with the same file names in each. Everything above this port (decisions, the
 * group-commit queue, HTTP, the CLI) is written once.
 *
 * Every method is async: PostgreSQL answers over a connection. The SQLite adapter answers at once.
 */

export interface Head {
  position: number;
  hash: string;
}

/** The columns a fold reads, without the hash-chain columns. */
export interface FoldInput extends FoldableEvent {
  version: number;
}

export interface EventReads {
  /** The last event's position and hash; null for an empty store. */
  head(): Promise<Head | null>;
  /** A stream's version (0 when it has no events). */
  streamVersion(streamId: string): Promise<number>;
  /** Up to `limit` events of one stream after `afterVersion`, in version order. */
  readStreamPage(streamId: string, afterVersion: number, limit: number): Promise<StoredEvent[]>;
  /** Up to `limit` events after `afterPosition`, in position order (the feed). */
  readAll(afterPosition: number, limit: number): Promise<StoredEvent[]>;
  /** The same, as stored rows (export, verify, restore checks). */
  readRowsAfter(afterPosition: number, limit: number): Promise<EventRow[]>;
  /** What a fold of one stream reads, for versions in (afterVersion, throughVersion], at most `limit`. */
  readFoldInputs(streamId: string, afterVersion: number, throughVersion: number, limit: number): Promise<FoldInput[]>;
  /** The first version in (afterVersion, throughVersion] recorded after `recordedAt` (ISO text), or null. */
  firstVersionRecordedAfter(streamId: string, recordedAt: string, afterVersion: number, throughVersion: number): Promise<number | null>;
}

export interface OpportunityReads {
  findOpportunity(code: string): Promise<Opportunity | null>;
  countOpportunities(): Promise<number>;
}

/** How a batch ended: committed with its plan, or not at all. */
export interface CommittedBatch {
  plan: BatchPlan;
  /** Seconds the transaction took, lock wait included. */
  seconds: number;
}

export interface BatchCommits {
  /**
   * Commits one batch in one transaction: takes the global write lock, reads what `needs` names, lets `decide`
   * plan the batch against it, writes the plan (events, projection, idempotency keys, head) and commits.
   * Decisions are never made on state read before the lock. Throws StorageUnavailableError when the database
   * cannot take the write (nothing of the batch was written); any other error is a bug.
   */
  commitBatch(needs: SnapshotNeeds, decide: (snapshot: BatchSnapshot) => BatchPlan): Promise<CommittedBatch>;
  /** Forgets at most `limit` idempotency keys first used before `before` (ISO text); returns how many. */
  pruneIdempotencyKeys(before: string, limit: number): Promise<number>;
}

export interface Storage extends EventReads, OpportunityReads, BatchCommits {
  readonly kind: "sqlite" | "postgres";
  /** Where the data is, for logs: the file path, or the URL with its password masked. */
  readonly location: string;
  /** Null when the database can take writes now, else why not (Chinese, for /readyz). Never writes or waits. */
  readiness(): Promise<string | null>;
  close(): Promise<{ checkpointed: boolean; checkpointError?: string }>;
}

/** A database whose schema is newer than this binary's: refused at open rather than misread (either backend). */
export class SchemaTooNewError extends Error {
  override name = "SchemaTooNewError";
}
