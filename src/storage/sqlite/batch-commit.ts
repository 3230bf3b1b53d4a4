import type { Database, Statement } from "bun:sqlite";
import type { EventRow } from "../../../events/stored-event";
import type { BatchPlan, BatchSnapshot, SnapshotNeeds } from "../../write/batch-plan";
import type { CommittedBatch, Head } from "../port";
import { asSqliteStorageError } from "./errors";
import type { IdempotencyKeys } from "./idempotency-keys";
import type { OpportunitiesTable } from "./opportunity-rows";
import { StateCache } from "./state-cache";

/** The statement that appends one event row (the restore path writes rows with it too). */
export function prepareEventInsert(db: Database): Statement<unknown, [EventRow]> {
  return db.prepare<unknown, [EventRow]>(
    `INSERT INTO events (position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at, prev_hash, hash)
     VALUES ($position, $event_id, $stream_id, $version, $type, $schema_version, $data, $metadata, $recorded_at, $prev_hash, $hash)`,
  );
}

type Decide = (snapshot: BatchSnapshot) => BatchPlan;

/**
 * Commits batches in `BEGIN IMMEDIATE` transactions: the write lock is taken first, then the snapshot the batch
 * needs is read, `decide` plans the batch against it, and the plan is written (event rows, the projection rows
 * it changed, idempotency keys and their counts) before COMMIT. Nothing is decided on state read outside the
 * lock, so another process appending in between (an import beside the server) cannot be overtaken. Anything
 * thrown rolls back the whole batch; storage failures come out as StorageUnavailableError.
 */
export class SqliteBatchCommits {
  private readonly insertEvent: Statement<unknown, [EventRow]>;
  private readonly lastEvent: Statement<Head, []>;
  private readonly transaction: { immediate: (needs: SnapshotNeeds, decide: Decide) => BatchPlan };
  private readonly prune: { immediate: (before: string, limit: number) => number };
  private readonly readOnly: (needs: SnapshotNeeds) => BatchSnapshot;
  private readonly cache: StateCache;

  constructor(
    db: Database,
    private readonly opportunities: OpportunitiesTable,
    private readonly keys: IdempotencyKeys,
  ) {
    this.insertEvent = prepareEventInsert(db);
    this.cache = new StateCache(db);
    this.lastEvent = db.prepare<Head, []>("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1");
    this.transaction = db.transaction((needs: SnapshotNeeds, decide: Decide) => {
      const plan = decide(this.readSnapshot(needs));
      this.write(plan);
      return plan;
    });
    this.prune = db.transaction((before: string, limit: number) => this.keys.pruneChunk(before, limit));
    // BEGIN DEFERRED that only reads: one WAL snapshot for all of it, and no write lock taken or waited for.
    this.readOnly = db.transaction((needs: SnapshotNeeds) => this.readSnapshot(needs));
  }

  /** What a batch of `needs` would be decided against now, read in one read transaction, without the write lock (dry runs). */
  readSnapshotUnlocked(needs: SnapshotNeeds): BatchSnapshot {
    try {
      return this.readOnly(needs);
    } catch (error) {
      throw asSqliteStorageError(error);
    }
  }

  /** One batch in one transaction, synchronously (bun:sqlite commits, and waits for the fsync, on this thread). */
  commit(needs: SnapshotNeeds, decide: Decide): CommittedBatch {
    const started = performance.now();
    try {
      const plan = this.transaction.immediate(needs, decide);
      this.cache.noteCommitted(plan.projections.map((change) => change.state));
      return { plan, seconds: (performance.now() - started) / 1000 };
    } catch (error) {
      this.cache.forget();
      throw asSqliteStorageError(error);
    }
  }

  /** Forgets at most `limit` keys first used before `before`, in a transaction of its own. */
  pruneIdempotencyKeys(before: string, limit: number): number {
    try {
      return this.prune.immediate(before, limit);
    } catch (error) {
      throw asSqliteStorageError(error);
    }
  }

  /**
   * What the batch is decided against, read inside its transaction after the lock was taken. Opportunity states
   * come from the cache while no other connection has committed since (StateCache), else from the table.
   */
  private readSnapshot(needs: SnapshotNeeds): BatchSnapshot {
    this.cache.revalidate();
    return {
      head: this.lastEvent.get(),
      maxId: this.cache.largest(() => this.opportunities.largestId()),
      states: new Map(needs.codes.map((code) => [code, this.stateOf(code)])),
      keys: this.keys.findMany(needs.claims),
      keysHeld: this.keys.heldPerClient(needs.clients, needs.keysCutoff),
    };
  }

  private stateOf(code: string) {
    const cached = this.cache.state(code);
    if (cached !== undefined) return cached;
    const state = this.opportunities.find(code);
    this.cache.noteRead(code, state);
    return state;
  }

  private write(plan: BatchPlan): void {
    for (const row of plan.rows) this.insertEvent.run(row);
    for (const change of plan.projections) this.opportunities.applyChange(change);
    if (plan.keys.length > 0) this.keys.saveMany(plan.keys);
  }

  /** Releases the prepared statements, so that closing the database really closes it. */
  finalize(): void {
    this.insertEvent.finalize();
    this.lastEvent.finalize();
    this.cache.finalize();
  }
}
