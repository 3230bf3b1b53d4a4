import type { IdempotencyClaim, KeyRefusal } from "../idempotency";
import { KeyRetention } from "../idempotency";
import type { BatchCommits, CommittedBatch } from "../storage/port";
import { asStorageError, StorageUnavailableError } from "../storage-errors";
import { keySlot, MESSAGES, needsOf, planBatch, type BatchPlan, type BatchSnapshot, type SnapshotNeeds, type UnitResult, type WriteRequest, type WriteResult, type WriteUnit } from "./batch-plan";
import type { BatchUpdate, BatchUpdateResult } from "./batch-update";

/** Told about every committed write transaction: how long it took and which events it appended. */
export type CommitObserver = (seconds: number, eventTypes: readonly string[]) => void;

export interface GroupCommitOptions {
  /** Most requests committed in one transaction; 1 turns group commit off. */
  maxBatch?: number;
  /** How long a batch may wait for more requests before it commits; 0 commits as soon as the loop is free. */
  batchWaitMs?: number;
  /** The clock for `recorded_at` and idempotency records. */
  now?: () => Date;
  /** How long an idempotency key is kept (the idempotencyTtlHours setting); keys older than that do not count. */
  idempotencyTtlHours?: number;
  /** Most unexpired idempotency keys one client may hold; a new key beyond it is refused, nothing stored. */
  idempotencyMaxKeysPerClient?: number;
  /** Most expired keys deleted in one transaction when pruning. */
  idempotencyPruneChunk?: number;
  /**
   * Batches handed to the store at once (default 1: each batch is formed of what arrived while the one before
   * committed). A store that commits elsewhere, behind a hop (the SQLite writer thread), takes 2, so that the
   * next batch is already there when a commit ends.
   */
  batchesInFlight?: number;
}

/** Most requests per transaction unless configured (the groupCommitMaxBatch setting's default too). */
export const DEFAULT_MAX_BATCH = 256;
/** Expired keys deleted per transaction: a few milliseconds of work, so batches wait little for a chunk. */
const DEFAULT_PRUNE_CHUNK = 500;

type Pending = WriteUnit & {
  resolve: (result: UnitResult) => void;
  reject: (error: unknown) => void;
};

/**
 * The one write path of an instance, whatever the backend: requests that arrive while a batch is being
 * committed wait in a queue and are committed together, one transaction (and one fsync) for the lot. Each is
 * decided against the state the ones before it left (batch-plan.ts) and answered only after the commit. One
 * batch is committed at a time; batches of several instances are serialised by the database's write lock.
 */
export class GroupCommit {
  /** Set by the service to feed its metrics; the writer works without one. */
  onCommit: CommitObserver | undefined;
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Set<string>();
  private scheduled = false;
  /** Batches handed to the store and not yet settled. */
  private committing = 0;
  private waiting: ReturnType<typeof setTimeout> | undefined;
  private readonly maxBatch: number;
  private readonly batchWaitMs: number;
  private readonly now: () => Date;
  readonly retention: KeyRetention;
  private readonly pruneChunk: number;
  private readonly batchesInFlight: number;

  constructor(
    private readonly store: BatchCommits,
    options: GroupCommitOptions = {},
  ) {
    this.maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH);
    this.batchWaitMs = Math.max(0, options.batchWaitMs ?? 0);
    this.now = options.now ?? (() => new Date());
    this.retention = new KeyRetention(options.idempotencyTtlHours, options.idempotencyMaxKeysPerClient);
    this.pruneChunk = Math.max(1, options.idempotencyPruneChunk ?? DEFAULT_PRUNE_CHUNK);
    this.batchesInFlight = Math.max(1, options.batchesInFlight ?? 1);
  }

  /** Queues one write; resolves once it is committed (or refused), rejects when its write failed. */
  execute(command: WriteRequest["command"], metadata: WriteRequest["metadata"], idempotency?: IdempotencyClaim): Promise<WriteResult> {
    return this.enqueue({ command, metadata, idempotency }) as Promise<WriteResult>;
  }

  /**
   * Queues a batch update as one unit: all its items are decided in the same group, in order, and their events
   * committed in its one transaction (none of them with allOrNone and a failed item). `idempotency` covers the
   * whole batch. Resolves once committed, like execute.
   */
  executeBatch(batch: BatchUpdate, metadata: WriteRequest["metadata"], idempotency?: IdempotencyClaim): Promise<BatchUpdateResult> {
    return this.enqueue({ batch, metadata, idempotency }) as Promise<BatchUpdateResult>;
  }

  private enqueue(unit: WriteUnit): Promise<UnitResult> {
    const busy = this.claim(unit.idempotency);
    if (busy) return Promise.resolve(busy);
    return new Promise((resolve, reject) => {
      this.queue.push({ ...unit, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Several writes in one transaction, all or nothing: a rejected command does not stop the others, but an
   * unexpected error in any of them writes none. For bulk loads (import, demo data); not queued.
   */
  async executeMany(requests: readonly WriteRequest[]): Promise<WriteResult[]> {
    const { plan } = await this.commit(requests, { allOrNothing: true });
    return plan.outcomes.map((outcome) => (outcome as { result: WriteResult }).result);
  }

  /**
   * Forgets idempotency keys first used before `before`; returns how many. In small transactions, each after
   * the batches already queued: one large DELETE would hold the write lock, and every write, for as long as it
   * runs. Pruning late costs only disk space: expired keys no longer count toward the cap.
   */
  async pruneIdempotencyKeys(before: Date): Promise<number> {
    let total = 0;
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const pruned = await this.store.pruneIdempotencyKeys(before.toISOString(), this.pruneChunk);
      total += pruned;
      if (pruned < this.pruneChunk) return total;
    }
  }

  /** Requests waiting for their commit. */
  get pending(): number {
    return this.queue.length;
  }

  /** The in-flight refusal if the same idempotency key is being written right now; else takes the key. */
  claim(idempotency: IdempotencyClaim | undefined): KeyRefusal | null {
    if (!idempotency) return null;
    const slot = keySlot(idempotency);
    if (this.inFlight.has(slot)) return { ok: false, reason: "in_flight", message: MESSAGES.inFlight };
    this.inFlight.add(slot);
    return null;
  }

  /** Gives a key back once its request is settled. */
  release(idempotency: IdempotencyClaim | undefined): void {
    if (idempotency) this.inFlight.delete(keySlot(idempotency));
  }

  /** Plans and commits `requests` as one batch, and reports the commit. */
  async commit(requests: readonly WriteUnit[], options: { allOrNothing?: boolean } = {}): Promise<CommittedBatch> {
    const { needs, decide } = this.batchOf(requests, options);
    return this.report(await this.store.commitBatch(needs, decide));
  }

  /**
   * What a batch of `requests` must read under the lock, and how it is decided against what was read: shared by
   * `commit` and a backend's own synchronous path (SQLite commits a lone request on the HTTP thread).
   */
  protected batchOf(requests: readonly WriteUnit[], options: { allOrNothing?: boolean } = {}): { needs: SnapshotNeeds; decide: (snapshot: BatchSnapshot) => BatchPlan } {
    const now = this.now();
    return {
      needs: needsOf(requests, now, this.retention),
      decide: (snapshot) => {
        const plan = planBatch(requests, snapshot, { now, retention: this.retention });
        const failed = options.allOrNothing ? plan.outcomes.find((outcome) => "error" in outcome) : undefined;
        if (failed) throw (failed as { error: unknown }).error;
        return plan;
      },
    };
  }

  /** Tells the observer about a committed batch. */
  protected report(committed: CommittedBatch): CommittedBatch {
    this.onCommit?.(committed.seconds, committed.plan.events.map((event) => event.type));
    return committed;
  }

  private schedule(): void {
    // A batch waiting for more requests commits at once when it is full: it cannot take more.
    if (this.waiting && this.queue.length >= this.maxBatch) {
      clearTimeout(this.waiting);
      this.waiting = undefined;
      this.scheduled = false;
    }
    if (this.scheduled || this.committing >= this.batchesInFlight) return;
    this.scheduled = true;
    const flush = () => {
      this.scheduled = false;
      this.waiting = undefined;
      void this.commitQueued();
    };
    if (this.batchWaitMs > 0 && this.queue.length < this.maxBatch) this.waiting = setTimeout(flush, this.batchWaitMs);
    else setImmediate(flush);
  }

  /** Commits the next batch; what arrived meanwhile forms the one after, once the loop has taken in more. */
  private async commitQueued(): Promise<void> {
    if (this.queue.length === 0) return;
    this.committing += 1;
    try {
      if (this.store.commitBatchWhenLocked) await this.commitWhenLocked(this.store.commitBatchWhenLocked.bind(this.store));
      else await this.settleBatch(this.queue.splice(0, this.maxBatch));
    } finally {
      this.committing -= 1;
      if (this.queue.length > 0) this.schedule();
    }
  }

  /**
   * On a database that instances share: the batch is taken from the queue once this instance holds the lock, so
   * what arrived while it waited for its turn joins the batch. Settled as settleBatch does.
   */
  private async commitWhenLocked(commit: NonNullable<BatchCommits["commitBatchWhenLocked"]>): Promise<void> {
    let batch: Pending[] | undefined;
    let committed: CommittedBatch | null;
    try {
      committed = await commit(() => {
        batch = this.queue.splice(0, this.maxBatch);
        return batch.length === 0 ? null : this.batchOf(batch);
      });
    } catch (error) {
      // Failed before the batch was taken (the lock itself): the requests it would have taken fail with it.
      await this.failBatch(batch ?? this.queue.splice(0, this.maxBatch), error);
      return;
    }
    if (committed === null || batch === undefined) return;
    try {
      this.settleOutcomes(batch, this.report(committed).plan);
    } finally {
      for (const item of batch) this.release(item.idempotency);
    }
  }

  private settleOutcomes(batch: readonly Pending[], plan: BatchPlan): void {
    batch.forEach((item, index) => {
      const outcome = plan.outcomes[index]!;
      if ("result" in outcome) item.resolve(outcome.result);
      else item.reject(outcome.error);
    });
  }

  /**
   * Commits a batch and settles each of its requests. When the database cannot take it, every request fails
   * with that (nothing was written). An unexpected error while writing (a bug) would otherwise fail neighbours
   * that did nothing wrong: the requests are then committed one by one, so that only the faulty one fails.
   */
  private async settleBatch(batch: Pending[]): Promise<void> {
    let committed: CommittedBatch;
    try {
      committed = await this.commit(batch);
    } catch (error) {
      await this.failBatch(batch, error);
      return;
    }
    try {
      this.settleOutcomes(batch, committed.plan);
    } finally {
      for (const item of batch) this.release(item.idempotency);
    }
  }

  /** A batch whose commit failed: a storage failure fails each request; anything else retries them one by one. */
  private async failBatch(batch: Pending[], error: unknown): Promise<void> {
    try {
      const failure = asStorageError(error);
      if (failure instanceof StorageUnavailableError || batch.length === 1) for (const item of batch) item.reject(failure);
      else for (const item of batch) await this.settleBatch([item]);
    } finally {
      for (const item of batch) this.release(item.idempotency);
    }
  }
}
