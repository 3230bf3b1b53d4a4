import type { EventMetadata } from "../events/opportunity-events";
import type { OpportunityCommand } from "./commands";
import type { IdempotencyClaim } from "./idempotency";
import { commitsLoneRequestAtOnce, type CommitObserver, type OpportunityWriter, type WriteResult, type WriterOptions } from "./opportunity-writer";
import { StorageUnavailableError } from "./storage-errors";
import type { Answer, ExecuteRequest, FromWorker, ToWorker } from "./write-worker";

/**
 * Where the writer thread's code is. In the compiled binary it is a second entry point of the build
 * (package.json "compile" lists it), reached by the relative name: bytecode builds bake the source file's path
 * into import.meta.url, which would point at a file that is not on the server. From source, next to this file.
 */
function workerEntry(): string {
  const compiled = Bun.main.startsWith("/$bunfs/");
  return compiled ? "./write-worker.ts" : new URL("./write-worker.ts", import.meta.url).href;
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

/**
 * The HTTP thread's end of the writer thread: the same `execute` as the in-process OpportunityWriter, so
 * handlers do not know which they talk to. Each call resolves when the writer thread has committed (or
 * refused) it; a storage failure comes back as StorageUnavailableError, so it still answers 503.
 *
 * A request that comes alone (no other request is being handled, the writer thread has nothing in hand) is
 * committed here instead, on this thread's own connection: there is no batch for it to join, and the hop to
 * the other thread and back would only add latency (group commit promises none at concurrency 1). The two
 * connections never write at once: this one commits only while the writer thread is idle, synchronously, so
 * nothing is sent there until it is done.
 */
export class WriteWorkerClient implements Pick<OpportunityWriter, "execute" | "pruneIdempotencyKeys"> {
  onCommit: CommitObserver | undefined;
  readonly counts: WritePathCounts = { inProcess: 0, writerThread: 0 };
  private readonly worker: Worker;
  private readonly lone: LoneRequests | undefined;
  private readonly waiting = new Map<number, { resolve: (value: never) => void; reject: (error: unknown) => void }>();
  private nextId = 1;
  private outbox: ExecuteRequest[] = [];
  private closed: ((outcome: { checkpointed: boolean; checkpointError?: string }) => void) | undefined;

  private constructor(worker: Worker, lone: LoneRequests | undefined) {
    this.worker = worker;
    this.lone = lone;
    if (lone) lone.writer.onCommit = (seconds, eventTypes) => this.onCommit?.(seconds, eventTypes);
  }

  /**
   * Starts the writer thread on `dbPath` (already migrated by the caller) and waits until it is ready.
   * `lone` takes the requests that come alone; it is used only with group commit as configured by default
   * (more than one per batch, no batch wait): the other settings ask for something else than the fastest
   * answer to a lone request.
   */
  static async start(dbPath: string, writer: WriterOptions, lone?: LoneRequests): Promise<WriteWorkerClient> {
    const worker = new Worker(workerEntry());
    const client = new WriteWorkerClient(worker, commitsLoneRequestAtOnce(writer) ? lone : undefined);
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const message = event.data;
        if (message.kind === "opened") resolve();
        else if (message.kind === "fatal") reject(new Error(`writer thread: ${message.message}`));
        else client.receive(message);
      };
      worker.onerror = (event) => reject(new Error(`writer thread: ${event.message}`));
      client.send({ kind: "open", dbPath, writer });
    });
    worker.onmessage = (event: MessageEvent<FromWorker>) => client.receive(event.data);
    return client;
  }

  execute(command: OpportunityCommand, metadata: EventMetadata, idempotency?: IdempotencyClaim): Promise<WriteResult> {
    return this.expect((id) => {
      // After the I/O of this turn of the loop: every request that came in with this one is in the outbox by then.
      if (this.outbox.length === 0) setImmediate(() => this.flush());
      this.outbox.push({ id, command, metadata, idempotency });
    });
  }

  pruneIdempotencyKeys(before: Date): Promise<number> {
    return this.expect((id) => this.send({ kind: "prune", id, before: before.getTime() }));
  }

  /** Waits for every pending write, then closes the writer's database and ends the thread. */
  async close(): Promise<{ checkpointed: boolean; checkpointError?: string }> {
    while (this.waiting.size > 0) await Bun.sleep(5);
    const outcome = await new Promise<{ checkpointed: boolean; checkpointError?: string }>((resolve) => {
      this.closed = resolve;
      this.send({ kind: "close" });
    });
    this.worker.terminate();
    return outcome;
  }

  /** Registers a waiter under a new id, then sends what carries that id. */
  private expect<T>(dispatch: (id: number) => void): Promise<T> {
    const id = this.nextId++;
    const promise = new Promise<T>((resolve, reject) => this.waiting.set(id, { resolve: resolve as (value: never) => void, reject }));
    dispatch(id);
    return promise;
  }

  /** Every request of this turn in one message: fewer, larger messages between the threads. */
  private flush(): void {
    const requests = this.outbox;
    this.outbox = [];
    // Alone, and nothing else waiting on the writer thread (each request here is already among `waiting`).
    if (this.lone && requests.length === 1 && this.waiting.size === 1 && this.lone.isAlone()) {
      const request = requests[0]!;
      const waiter = this.waiting.get(request.id)!;
      // False: another process holds the write lock. The writer thread waits for it; this thread must not.
      const settle = { resolve: waiter.resolve as (result: WriteResult) => void, reject: waiter.reject };
      if (this.lone.writer.tryExecuteNow(request.command, request.metadata, request.idempotency, settle)) {
        this.counts.inProcess += 1;
        this.waiting.delete(request.id);
        return;
      }
    }
    this.counts.writerThread += requests.length;
    this.send({ kind: "execute", requests });
  }

  private settle(answer: Answer): void {
    const waiter = this.waiting.get(answer.id);
    if (!waiter) return;
    this.waiting.delete(answer.id);
    if ("result" in answer) waiter.resolve(answer.result as never);
    else waiter.reject(answer.sqliteCode ? new StorageUnavailableError(answer.sqliteCode, new Error(answer.message)) : new Error(answer.message));
  }

  private send(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  private receive(message: FromWorker): void {
    switch (message.kind) {
      case "settled":
        // Commits first: a test or a scrape that sees an answer also sees its transaction counted.
        for (const commit of message.commits) this.onCommit?.(commit.seconds, commit.eventTypes);
        for (const answer of message.answers) this.settle(answer);
        return;
      case "closed":
        this.closed?.(message);
        return;
      default:
        return;
    }
  }
}
