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

/** What a dry run decides on: the state a batch would be decided against, read without the write lock. */
export interface SnapshotReads {
  /**
   * What `needs` names, as of one committed instant (one read transaction), without taking the write lock and
   * without waiting for it: what a batch committed now would be decided against, unless another commits first.
   */
  readSnapshot(needs: SnapshotNeeds): Promise<BatchSnapshot>;
}

/** How a batch ended: committed with its plan, or not at all. */
export interface CommittedBatch {
  plan: BatchPlan;
  /** Seconds the transaction took, lock wait included. */
  seconds: number;
}

/** A batch as the group-commit queue forms it: what to read under the lock, and how to decide it. */
export interface FormedBatch {
  needs: SnapshotNeeds;
  decide: (snapshot: BatchSnapshot) => BatchPlan;
}

export interface BatchCommits {
  /**
   * Commits one batch in one transaction: takes the global write lock, reads what `needs` names, lets `decide`
   * plan the batch against it, writes the plan (events, projection, idempotency keys, head) and commits.
   * Decisions are never made on state read before the lock. Throws StorageUnavailableError when the database
   * cannot take the write (nothing of the batch was written); any other error is a bug.
   */
  commitBatch(needs: SnapshotNeeds, decide: (snapshot: BatchSnapshot) => BatchPlan): Promise<CommittedBatch>;
  /**
   * Optional, for a database that several instances share: takes the global write lock first and only then asks
   * `form` for the batch, so that the requests that arrived while this instance waited its turn join this batch
   * instead of waiting for the next turn (instances taking turns on the lock would otherwise halve each other's
   * batches). `form` is called once per call; when it gives null, nothing is committed and null is returned.
   * Otherwise as commitBatch.
   */
  commitBatchWhenLocked?(form: () => FormedBatch | null): Promise<CommittedBatch | null>;
  /** Forgets at most `limit` idempotency keys first used before `before` (ISO text); returns how many. */
  pruneIdempotencyKeys(before: string, limit: number): Promise<number>;
}

/** Being told that events were committed, whoever wrote them (the live event stream's one watcher per process). */
export interface CommitWatch {
  /**
   * Calls `onCommit` soon after any writer commits events to this database: another connection of this process,
   * another process (an `import`), another instance. It is also called once when watching begins and whenever
   * commits may have gone unseen (a lost connection is back), and it may be called when nothing changed: a caller
   * that reads everything after its own cursor on each call misses nothing. Resolves once watching has begun;
   * the function it gives stops it. Never rejects: a database out of reach is watched again once it is back.
   */
  watchCommits(onCommit: () => void): Promise<() => Promise<void>>;
}

export interface Storage extends EventReads, OpportunityReads, SnapshotReads, BatchCommits, CommitWatch {
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

/**
 * What `verify` reads of a database besides the events themselves, all inside one consistent snapshot: the
 * backend-specific half of the audit (the checks themselves are written once, in src/audit/).
 */
export interface AuditReads {
  /** The event rows after `afterPosition`, in position order, as stored (their types are checked, not assumed). */
  rawEventRowsAfter(afterPosition: number, limit: number): Promise<Record<string, unknown>[]>;
  /** Every row of the projection; null when the table is missing (the structure findings name that). */
  listOpportunities(): Promise<Opportunity[] | null>;
  /** Every stored idempotency answer with its proof columns, ordered by client and key. */
  idempotencyKeyRows(): Promise<IdempotencyKeyRow[]>;
  /** The facts about the events that checking these answers needs, read in bulk. */
  eventFacts(questions: EventFactQuestions): Promise<EventFactAnswers>;
  /** The database's own structure (append-only trigger, unique constraints, head row, schema version): findings, none when sound. */
  structuralFindings(): Promise<{ at: string; reason: string }[]>;
}

/** One stored idempotency answer as read: integers as numbers, NULL as null; anything else as it was stored. */
export interface IdempotencyKeyRow {
  client: unknown;
  key: unknown;
  outcome: unknown;
  stream_id?: unknown;
  position?: unknown;
  appended?: unknown;
}

/** What the idempotency checks ask of the events: versions and creation events of streams as of positions, and more. */
export interface EventFactQuestions {
  /** For each: the stream's version, and its creation event's data, once the chain had reached `position`. */
  streamsAt: { streamId: string; position: number }[];
  /** The stream of each of these positions. */
  positions: number[];
  /** The positions of the events whose metadata carries each of these client + key pairs. */
  keys: { client: string; key: string }[];
  /** Whether every creation event is needed (answers stored without proof name an id only). */
  creations: boolean;
}

export interface EventFactAnswers {
  /** The last position, 0 when there are no events. */
  head: number;
  /** In the order of `streamsAt`. */
  streamsAt: { version: number; creationData: string | null }[];
  streamOf: Map<number, string>;
  /** The metadata of every event mentioning an idempotency key of `keys`, in position order (parsed by the checks). */
  keyedEvents: { position: number; metadata: string }[];
  /** Every creation event's stream, data and that stream's current version (when asked). */
  creations: { streamId: string; data: string; version: number }[];
}

/** A new database being filled from an export inside one transaction (restore): nothing shows until it commits. */
export interface RestoreTarget {
  /** Inserts checked event rows, in position order. */
  appendRows(rows: readonly EventRow[]): Promise<void>;
  /** Sets the head to the last row, builds the projection from the stored events and returns its rows, read back. */
  finish(head: Head | null): Promise<Opportunity[]>;
}

/** Refused by restore: the target database already holds data (restore only creates a new database). */
export class TargetNotEmptyError extends Error {
  override name = "TargetNotEmptyError";
}
