import type { EventStore, WriteTransaction } from "../events/event-store";
import { readHead } from "../events/read";
import type { EventMetadata } from "../events/opportunity-events";
import type { OpportunitiesTable } from "../projections/opportunities-table";
import type { OpportunityCommand } from "./commands";
import { decide, type Decision } from "./decide";
import { KeyRetention, type IdempotencyClaim, type IdempotencyKeys } from "./idempotency";
import { asStorageError, StorageUnavailableError } from "./storage-errors";

/** A decision as the writer reports it, or a refusal of the idempotency key itself. */
export type WriteResult = (Decision | { ok: false; reason: "idempotency_mismatch" | "in_flight" | "idempotency_limit"; message: string; version?: undefined }) & {
  appended?: number;
  replayed?: boolean;
};

/** Told about every committed write transaction: how long it took and which events it appended. */
export type CommitObserver = (seconds: number, eventTypes: readonly string[]) => void;

export interface WriterOptions {
  /** Most requests committed in one transaction; 1 turns group commit off. */
  maxBatch?: number;
  /** How long a batch may wait for more requests before it commits; 0 commits as soon as the loop is free. */
  batchWaitMs?: number;
  /** The clock for idempotency records. */
  now?: () => Date;
  /** How long an idempotency key is kept (the idempotencyTtlHours setting); keys older than that do not count. */
  idempotencyTtlHours?: number;
  /** Most unexpired idempotency keys one client may hold; a new key beyond it is refused, nothing stored. */
  idempotencyMaxKeysPerClient?: number;
  /** Most expired keys deleted in one transaction when pruning. */
  idempotencyPruneChunk?: number;
}

interface Pending {
  command: OpportunityCommand;
  metadata: EventMetadata;
  idempotency?: IdempotencyClaim;
  resolve: (result: WriteResult) => void;
  reject: (error: unknown) => void;
}

/** Most requests per transaction unless configured (the groupCommitMaxBatch setting's default too). */
export const DEFAULT_MAX_BATCH = 256;

/** Whether these options commit a request that comes alone at once: group commit, without a batch wait. */
export function commitsLoneRequestAtOnce(options: WriterOptions): boolean {
  return (options.maxBatch ?? DEFAULT_MAX_BATCH) > 1 && (options.batchWaitMs ?? 0) === 0;
}

/** Expired keys deleted per transaction: a few milliseconds of work, so batches wait little for a chunk. */
const DEFAULT_PRUNE_CHUNK = 500;

/** Lets whatever the event loop has queued (the next batch's commit) run first. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A request's idempotency key, the table it is kept in, and the time it is decided at. */
interface Keyed {
  claim: IdempotencyClaim;
  keys: IdempotencyKeys;
  now: Date;
}

/** An idempotency key's place among the writes in flight. */
const inFlightSlot = (claim: IdempotencyClaim) => `${claim.client}\n${claim.key}`;

export const MESSAGES = {
  idempotencyMismatch: "Idempotency-Key 已用于另一个内容不同的请求，本次未做任何修改",
  inFlight: "相同 Idempotency-Key 的请求正在处理中，请稍后重试",
} as const;

/**
 * The one write path of the process: load state, decide, append and project, in BEGIN IMMEDIATE
 * transactions. Requests that arrive while a commit is running wait in a queue and are committed together,
 * one transaction and one fsync for the lot (group commit); each is still decided against the state the ones
 * before it left, and each gets its own answer only after the commit. A command that fails unexpectedly is
 * rolled back to its savepoint alone; a commit that fails fails its whole batch.
 */
export class OpportunityWriter {
  /** Set by the service to feed its metrics; the writer works without one. */
  onCommit: CommitObserver | undefined;
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Set<string>();
  private scheduled = false;
  private waiting: ReturnType<typeof setTimeout> | undefined;
  private readonly maxBatch: number;
  private readonly batchWaitMs: number;
  private readonly now: () => Date;
  private readonly retention: KeyRetention;
  private readonly pruneChunk: number;

  constructor(
    private readonly store: EventStore,
    private readonly table: OpportunitiesTable,
    private readonly idempotency: IdempotencyKeys | null = null,
    options: WriterOptions = {},
  ) {
    this.maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH);
    this.batchWaitMs = Math.max(0, options.batchWaitMs ?? 0);
    this.now = options.now ?? (() => new Date());
    this.retention = new KeyRetention(options.idempotencyTtlHours, options.idempotencyMaxKeysPerClient);
    this.pruneChunk = Math.max(1, options.idempotencyPruneChunk ?? DEFAULT_PRUNE_CHUNK);
  }

  /** Queues one command; resolves once it is committed (or refused), rejects when its write failed. */
  execute(command: OpportunityCommand, metadata: EventMetadata, idempotency?: IdempotencyClaim): Promise<WriteResult> {
    const busy = this.claim(idempotency);
    if (busy) return Promise.resolve(busy);
    return new Promise((resolve, reject) => {
      this.queue.push({ command, metadata, idempotency, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Commits one command now, in this turn of the loop, if the write lock is free at this instant: for a caller
   * that knows no other request is coming to join a batch (the writer thread's client, for a lone request).
   * Settles through `settle` and returns true; or, when another connection holds the lock (an import beside
   * the server), writes nothing, settles nothing and returns false at once, rather than this thread sitting out
   * the busy timeout: the caller hands the command to a writer that may wait. False too while commands are
   * queued here, which go first.
   */
  tryExecuteNow(
    command: OpportunityCommand,
    metadata: EventMetadata,
    idempotency: IdempotencyClaim | undefined,
    settle: { resolve: (result: WriteResult) => void; reject: (error: unknown) => void },
  ): boolean {
    if (this.queue.length > 0) return false;
    const busy = this.claim(idempotency);
    if (busy) {
      settle.resolve(busy);
      return true;
    }
    const db = this.store.db;
    const patience = db.query<{ timeout: number }, []>("PRAGMA busy_timeout").get()?.timeout ?? 0;
    db.run("PRAGMA busy_timeout = 0");
    try {
      return this.commitBatch([{ command, metadata, idempotency, ...settle }], { handOverWhenLocked: true });
    } finally {
      db.run(`PRAGMA busy_timeout = ${patience}`);
    }
  }

  /** The in-flight refusal if the same idempotency key is being written right now; else takes the key. */
  private claim(idempotency: IdempotencyClaim | undefined): WriteResult | null {
    if (!idempotency) return null;
    const slot = inFlightSlot(idempotency);
    if (this.inFlight.has(slot)) return { ok: false, reason: "in_flight", message: MESSAGES.inFlight };
    this.inFlight.add(slot);
    return null;
  }

  /**
   * Several commands in one transaction (one fsync), each decided against the state the ones before it left.
   * A rejected command does not stop the others; an unexpected error rolls back the whole batch. For bulk
   * loads (import, demo data), which want all-or-nothing per batch.
   */
  async executeMany(items: readonly { command: OpportunityCommand; metadata: EventMetadata }[]): Promise<WriteResult[]> {
    return this.observed((types) => this.store.write((tx) => items.map((item) => this.decideAndAppend(tx, item, types))));
  }

  /**
   * Forgets idempotency keys first used before `before`; returns how many. In small transactions, each after
   * the batches already queued: one large DELETE would hold the write lock, and every write, for as long as it
   * runs. Pruning late costs only disk space: expired keys no longer count toward the cap.
   */
  async pruneIdempotencyKeys(before: Date): Promise<number> {
    const keys = this.idempotency;
    if (!keys) return 0;
    let total = 0;
    for (;;) {
      await nextTurn();
      const pruned = this.store.write(() => keys.pruneChunk(before, this.pruneChunk));
      total += pruned;
      if (pruned < this.pruneChunk) return total;
    }
  }

  /** Requests waiting for their commit. */
  get pending(): number {
    return this.queue.length;
  }

  private schedule(): void {
    // A batch waiting for more requests commits at once when it is full: it cannot take more.
    if (this.waiting && this.queue.length >= this.maxBatch) {
      clearTimeout(this.waiting);
      this.waiting = undefined;
      this.scheduled = false;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    const flush = () => {
      this.scheduled = false;
      this.waiting = undefined;
      this.commitBatch(this.queue.splice(0, this.maxBatch));
      // What arrived during that commit forms the next batch, after the loop has taken in more requests.
      if (this.queue.length > 0) this.schedule();
    };
    if (this.batchWaitMs > 0 && this.queue.length < this.maxBatch) this.waiting = setTimeout(flush, this.batchWaitMs);
    else setImmediate(flush);
  }

  /**
   * Commits a batch and settles each of its promises; returns true. With handOverWhenLocked, a batch that could
   * not even take the write lock settles nothing and returns false: nothing was written, so it may go elsewhere.
   */
  private commitBatch(batch: Pending[], options: { handOverWhenLocked?: boolean } = {}): boolean {
    if (batch.length === 0) return true;
    const outcomes: ({ result: WriteResult } | { error: unknown })[] = [];
    try {
      this.observed((types) =>
        this.store.write((tx) => {
          for (const item of batch) {
            // A savepoint per command: an unexpected error undoes that command alone, not its neighbours.
            // Failures that take the whole transaction with them (a full disk) fail the batch instead.
            const countedBefore = types.length;
            try {
              outcomes.push({ result: tx.attempt(() => this.decideAndAppend(tx, item, types)) });
            } catch (error) {
              if (!tx.db.inTransaction) throw error;
              types.length = countedBefore;
              outcomes.push({ error: asStorageError(error) });
            }
          }
        }),
      );
    } catch (error) {
      // The commit itself failed (disk full, read-only, lock timeout): nothing of the batch was written.
      const failure = asStorageError(error);
      if (options.handOverWhenLocked && failure instanceof StorageUnavailableError && failure.lockHeld) return false;
      for (const item of batch) item.reject(failure);
      return true;
    } finally {
      for (const item of batch) if (item.idempotency) this.inFlight.delete(inFlightSlot(item.idempotency));
    }
    batch.forEach((item, index) => {
      const outcome = outcomes[index]!;
      if ("result" in outcome) item.resolve(outcome.result);
      else item.reject(outcome.error);
    });
    return true;
  }

  /** Times a write transaction and reports it once it has committed (a rolled-back one throws past this). */
  private observed<T>(write: (eventTypes: string[]) => T): T {
    const started = performance.now();
    const eventTypes: string[] = [];
    const result = write(eventTypes);
    this.onCommit?.((performance.now() - started) / 1000, eventTypes);
    return result;
  }

  private decideAndAppend(
    tx: WriteTransaction,
    item: { command: OpportunityCommand; metadata: EventMetadata; idempotency?: IdempotencyClaim },
    appendedTypes: string[],
  ): WriteResult {
    const { command, idempotency } = item;
    const keyed: Keyed | undefined = idempotency && this.idempotency ? { claim: idempotency, keys: this.idempotency, now: this.now() } : undefined;
    const answered = keyed && this.answerForKey(keyed);
    if (answered) return answered;
    const state = this.table.find(command.opportunityCode);
    const decision = decide(command, state, { nextId: state ? state.id : this.table.nextId() });
    const metadata = idempotency ? { ...item.metadata, idempotencyKey: idempotency.key } : item.metadata;
    const appended = decision.ok && decision.events.length > 0 ? tx.append(command.opportunityCode, state?.version ?? 0, decision.events, metadata) : [];
    for (const event of appended) appendedTypes.push(event.type);
    if (keyed) {
      // The outcome, not the events: a replay answers the same without appending anything. The proof says
      // where it was reached, so that verify can hold every stored answer against the events.
      const outcome: Record<string, unknown> = { ...decision };
      delete outcome.events;
      const position = appended.length > 0 ? appended[0]!.position - 1 : (readHead(tx.db)?.position ?? 0);
      keyed.keys.save(keyed.claim, outcome, { streamId: command.opportunityCode, position, appended: appended.length }, keyed.now, this.retention);
    }
    return appended.length > 0 ? { ...decision, appended: appended.length } : decision;
  }

  /** The answer a key already gives (a replay, or a mismatch), or the cap's refusal of a new key; else null. */
  private answerForKey({ claim, keys, now }: Keyed): WriteResult | null {
    const earlier = keys.find(claim);
    if (earlier) {
      if (earlier.fingerprint !== claim.fingerprint) return { ok: false, reason: "idempotency_mismatch", message: MESSAGES.idempotencyMismatch };
      const outcome = earlier.outcome as Decision;
      return outcome.ok ? { ...outcome, events: [], replayed: true } : { ...outcome, replayed: true };
    }
    // A new key beyond the cap: refused before anything is decided, so nothing is stored or appended.
    if (keys.heldBy(claim.client, now, this.retention) >= this.retention.maxKeysPerClient) {
      return { ok: false, reason: "idempotency_limit", message: this.retention.limitMessage() };
    }
    return null;
  }
}
