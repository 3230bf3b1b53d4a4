import type { Database } from "bun:sqlite";
import { availableParallelism } from "node:os";
import { receiveMessageOnPort } from "node:worker_threads";
import type { StreamRange } from "./stream-range-fold";
import { workerEntry } from "../../worker-entry";

/** The work a range thread does (src/range-worker.ts): fold for rebuild, check for verify. */
export type RangeTask = "fold" | "check";

/** What a range thread is sent: its database, its streams, and the last position it may read. */
export interface RangeThreadRequest {
  task: RangeTask;
  path: string;
  range: StreamRange;
  throughPosition: number;
  port: MessagePort;
}

export type RangeThreadMessage = { kind: "started" } | { kind: "done"; result: unknown } | { kind: "failed"; message: string };

/** How work over every stream is shared out among threads. */
export interface RangeThreadOptions {
  /** At most this many threads, this one included (default: the processors, at most 4). */
  threads?: number;
  /** A thread is only worth starting for at least this many events (default 100,000). */
  minEventsPerThread?: number;
  /**
   * Walk the ranges one after another on this thread instead (tests: the shared walk's own logic, run over many
   * small stores, without a thread's start-up for each; range-threads are tested on their own).
   */
  inline?: boolean;
}

const MIN_EVENTS_PER_THREAD = 100_000;
/** A thread that has not said it started by then is not coming (its code could not load): its range is done here. */
const START_TIMEOUT_MS = 10_000;

/**
 * How many threads `events` events of `db` are worth; 1 means this thread alone, as for a database that is no
 * file other connections could open. A number of threads asked for is given whatever the store's size (an
 * operator's `--threads`); by default, the processors (at most 4) as far as each has MIN_EVENTS_PER_THREAD
 * events: starting a thread costs more than folding a small store.
 */
export function rangeThreadCount(db: Database, events: number, options: RangeThreadOptions): number {
  if (db.filename === "" || db.filename === ":memory:") return 1;
  const limit = options.threads ?? Math.min(availableParallelism(), 4);
  const minimum = options.minEventsPerThread ?? (options.threads === undefined ? MIN_EVENTS_PER_THREAD : 1);
  return Math.max(1, Math.min(limit, Math.floor(events / minimum)));
}

/**
 * A range of streams worked on by another thread, on a read-only connection of its own, and waited for
 * synchronously: the caller is inside a transaction, so it cannot hand the event loop back.
 */
export class RangeThread<T> {
  private readonly worker = new Worker(workerEntry("range-worker.ts"));
  private readonly channel = new MessageChannel();
  private readonly startedBy = performance.now() + START_TIMEOUT_MS;
  private started = false;
  private readonly wake = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    private readonly task: RangeTask,
    path: string,
    readonly range: StreamRange,
    throughPosition: number,
  ) {
    const request: RangeThreadRequest = { task, path, range, throughPosition, port: this.channel.port2 };
    this.worker.postMessage(request, [this.channel.port2]);
  }

  /** The range's result, or null when the thread never started. Throws the thread's own error. */
  result(): T | null {
    for (;;) {
      const message = receiveMessageOnPort(this.channel.port1 as never)?.message as RangeThreadMessage | undefined;
      if (message?.kind === "started") this.started = true;
      else if (message?.kind === "done") return message.result as T;
      else if (message?.kind === "failed") throw new Error(`the ${this.task} thread failed: ${message.message}`);
      else if (!this.started && performance.now() > this.startedBy) return null;
      // Messages cannot arrive as events while this thread is blocked: poll the port, sleeping in between.
      else Atomics.wait(this.wake, 0, 0, 2);
    }
  }

  stop(): void {
    this.worker.terminate();
    this.channel.port1.close();
  }
}

/**
 * Runs `task` over each range: the first here (`here`, when given) and the others in threads, with `alongside`
 * run here meanwhile; a range whose thread never started is done here too. Results in the ranges' order, and
 * how many threads did work (this one included).
 */
export function shareRanges<T>(
  task: RangeTask,
  path: string,
  ranges: readonly StreamRange[],
  throughPosition: number,
  work: { here: (range: StreamRange) => T; hereFirst: boolean; alongside?: () => void; inline?: boolean },
): { results: T[]; threads: number } {
  if (work.inline) {
    work.alongside?.();
    return { results: ranges.map(work.here), threads: 1 };
  }
  const [first, ...rest] = ranges;
  const threaded = work.hereFirst ? rest : ranges;
  const threads = threaded.map((range) => new RangeThread<T>(task, path, range, throughPosition));
  try {
    work.alongside?.();
    const results = work.hereFirst ? [work.here(first!)] : [];
    let started = work.hereFirst ? 1 : 0;
    for (const thread of threads) {
      const result = thread.result();
      if (result !== null) started += 1;
      results.push(result ?? work.here(thread.range));
    }
    return { results, threads: started };
  } finally {
    for (const thread of threads) thread.stop();
  }
}
