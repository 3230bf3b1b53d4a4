import type { OpportunityWriter, WriterOptions } from "./opportunity-writer";
import { commitsLoneRequestAtOnce } from "./opportunity-writer";
import type { BatchCommits, CommittedBatch } from "./storage/port";
import { isBatchUpdate, type BatchPlan, type WriteUnit } from "./write/batch-plan";
import { GroupCommit } from "./write/group-commit";
import { decodeMessage, encodeMessage, errorOf, type FromWorker, type ToWorker } from "./write-worker-messages";
import { workerEntry } from "./worker-entry";

/** A unit as it crosses to the writer thread: its own fields only, without the queue's callbacks. */
function sendable(unit: WriteUnit): WriteUnit {
  const { metadata, idempotency } = unit;
  return isBatchUpdate(unit) ? { batch: unit.batch, metadata, idempotency } : { command: unit.command, metadata, idempotency };
}

/** Where the writes went: committed on this thread (a request that came alone) or by the writer thread. */
export interface WritePathCounts {
  inProcess: number;
  writerThread: number;
}

/** The HTTP thread's own writer on the same database, and whether the request at hand is the only one. */
export interface LoneRequests {
  writer: OpportunityWriter;
  /** True when no other request is being handled (Bun's server.pendingRequests is 1). */
  isAlone: () => boolean;
}

type Waiter = { resolve: (message: FromWorker) => void; reject: (error: unknown) => void };

/**
 * The writer thread as the queue on this thread sees it: a channel of messages, each answered by id. Batches
 * cross whole (WriteWorkerClient.commit: a `decide` function cannot be sent to another thread); pruning goes
 * chunk by chunk like any store's.
 */
class WriterThread implements BatchCommits {
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;

  constructor(readonly worker: Worker) {}

  /** Messages sent and not yet answered. */
  get unanswered(): number {
    return this.waiting.size;
  }

  commitBatch(): Promise<CommittedBatch> {
    return Promise.reject(new Error("batches go to the writer thread whole, through WriteWorkerClient.commit"));
  }

  async pruneIdempotencyKeys(before: string, limit: number): Promise<number> {
    const answer = await this.ask((id) => ({ kind: "prune", id, before, limit }));
    return (answer as Extract<FromWorker, { kind: "pruned" }>).count;
  }

  /** Sends what carries a new id and waits for the writer thread's answer to it; a failure rejects. */
  ask(message: (id: number) => ToWorker): Promise<FromWorker> {
    const id = this.nextId++;
    const answer = new Promise<FromWorker>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    try {
      this.send(message(id));
    } catch (error) {
      this.waiting.delete(id);
      throw error;
    }
    return answer;
  }

  send(message: ToWorker): void {
    this.worker.postMessage(encodeMessage(message));
  }

  receive(message: FromWorker): void {
    if (!("id" in message)) return;
    const waiter = this.waiting.get(message.id);
    if (!waiter) return;
    this.waiting.delete(message.id);
    if (message.kind === "failed") waiter.reject(errorOf(message.error));
    else waiter.resolve(message);
  }
}

/**
 * The writes of the HTTP thread, committed by the writer thread: the one group-commit queue of the process
 * lives here, on this thread (in-flight keys, batching, one batch at a time, a failed batch retried one by
 * one), and each batch is sent to the writer thread whole, which plans it against the database and commits
 * it in one transaction while this thread goes on parsing requests. The writer thread keeps no queue of its
 * own. A storage failure comes back as StorageUnavailableError, so it still answers 503.
 *
 * A request that comes alone (no other request is being handled, no batch is being committed) is committed
 * here instead, on this thread's own connection: there is no batch for it to join, and the hop to the other
 * thread and back would only add latency (group commit promises none at concurrency 1). The two connections
 * never write at once: this one commits only while the writer thread has no batch, synchronously.
 */
export class WriteWorkerClient extends GroupCommit {
  readonly counts: WritePathCounts = { inProcess: 0, writerThread: 0 };

  private constructor(
    private readonly thread: WriterThread,
    private readonly lone: LoneRequests | undefined,
    options: WriterOptions,
  ) {
    super(thread, { ...options, batchesInFlight: 2 });
  }

  /**
   * Starts the writer thread on `dbPath` (already migrated by the caller) and waits until it is ready.
   * `lone` takes the requests that come alone; it is used only with group commit as configured by default
   * (more than one per batch, no batch wait): the other settings ask for something else than the fastest
   * answer to a lone request.
   */
  static async start(dbPath: string, writer: WriterOptions, lone?: LoneRequests, options: { checkpointThread?: boolean } = {}): Promise<WriteWorkerClient> {
    const thread = new WriterThread(new Worker(workerEntry("write-worker.ts")));
    await new Promise<void>((resolve, reject) => {
      thread.worker.onmessage = (event: MessageEvent<string>) => {
        const message = decodeMessage<FromWorker>(event.data);
        if (message.kind === "opened") resolve();
        else if (message.kind === "fatal") reject(new Error(`writer thread: ${message.message}`));
      };
      thread.worker.onerror = (event) => reject(new Error(`writer thread: ${event.message}`));
      thread.send({ kind: "open", dbPath, writer, checkpointThread: options.checkpointThread ?? false });
    });
    thread.worker.onmessage = (event: MessageEvent<string>) => thread.receive(decodeMessage<FromWorker>(event.data));
    return new WriteWorkerClient(thread, commitsLoneRequestAtOnce(writer) ? lone : undefined, writer);
  }

  /** One batch: committed here when it is a lone request, else by the writer thread. */
  override async commit(requests: readonly WriteUnit[], options: { allOrNothing?: boolean } = {}): Promise<CommittedBatch> {
    if (this.lone && requests.length === 1 && this.thread.unanswered === 0 && this.lone.isAlone()) {
      // Null: another process holds the write lock. The writer thread waits for it; this thread must not.
      const committed = this.lone.writer.commitNow(requests, options);
      if (committed) {
        this.counts.inProcess += 1;
        return this.report(committed);
      }
    }
    this.counts.writerThread += requests.length;
    // The requests alone: the queue's entries also hold their promises' callbacks, which cannot be cloned.
    const sent = requests.map(sendable);
    const answer = await this.thread.ask((id) => ({ kind: "commit", id, requests: sent, allOrNothing: options.allOrNothing ?? false }));
    const { seconds, eventTypes, outcomes, head } = answer as Extract<FromWorker, { kind: "committed" }>;
    this.onCommit?.(seconds, eventTypes);
    // What was written stays on the writer thread: the outcomes and the head are what this side needs.
    const plan: BatchPlan = {
      outcomes: outcomes.map((outcome) => ("result" in outcome ? outcome : { error: errorOf(outcome.error) })),
      rows: [],
      events: [],
      projections: [],
      keys: [],
      head,
    };
    return { plan, seconds };
  }

  /** Waits for every queued and pending write, then closes the writer's database and ends the thread. */
  async close(): Promise<{ checkpointed: boolean; checkpointError?: string }> {
    while (this.pending > 0 || this.thread.unanswered > 0) await Bun.sleep(5);
    const closed = await new Promise<Extract<FromWorker, { kind: "closed" }>>((resolve) => {
      this.thread.worker.onmessage = (event: MessageEvent<string>) => {
        const message = decodeMessage<FromWorker>(event.data);
        if (message.kind === "closed") resolve(message);
      };
      this.thread.send({ kind: "close" });
    });
    this.thread.worker.terminate();
    return { checkpointed: closed.checkpointed, checkpointError: closed.checkpointError };
  }
}
