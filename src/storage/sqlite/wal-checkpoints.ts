import type { Database } from "bun:sqlite";
import { workerEntry } from "../../worker-entry";

/** How often the checkpointer thread copies the WAL back into the database file. */
export const CHECKPOINT_INTERVAL_MS = 250;

/**
 * The WAL size in pages at which a committing connection checkpoints itself, with the checkpointer thread
 * running: a safety net if that thread falls behind or is gone, and what starts the WAL over under steady
 * writes (a PASSIVE checkpoint beside a writer that keeps appending never finds the whole WAL copied). About 40
 * MiB of WAL at the default page size, a few seconds of group commit at full load.
 */
export const WRITER_CHECKPOINT_PAGES = 10_000;

export type CheckpointerRequest = { kind: "start"; path: string; intervalMs: number } | { kind: "stop" };

export type CheckpointerMessage =
  | { kind: "started" }
  /** A checkpoint copied frames: `frames` of the WAL's `walFrames` are now in the database file. */
  | { kind: "checkpointed"; frames: number; walFrames: number }
  | { kind: "failed"; message: string }
  | { kind: "recovered" }
  | { kind: "stopped" };

/** A connection that commits while the checkpointer thread runs: it checkpoints only past the safety net. */
export function leaveCheckpointsToThread(db: Database): void {
  db.run(`PRAGMA wal_autocheckpoint = ${WRITER_CHECKPOINT_PAGES}`);
}

export interface CheckpointerEvents {
  /** A checkpoint failed (a full disk, a file made unwritable); told once until one succeeds again. */
  onFailure?: (message: string) => void;
  onRecovery?: () => void;
}

/** The checkpointer thread (checkpoint-worker.ts) of one SQLite file, as the service that starts it sees it. */
export class WalCheckpointer {
  /** Checkpoints that copied frames, and the last one's report. */
  checkpoints = 0;
  last: { frames: number; walFrames: number } | null = null;
  /** Whether the last checkpoint failed (until one succeeds again). */
  private failing = false;
  /** From the thread's start to its stop or its end by an error. */
  private running = false;
  private readonly worker = new Worker(workerEntry("checkpoint-worker.ts"));
  private readonly stopped: Promise<void>;
  /** Until the thread has answered its start: how that answer is told to start()'s caller. */
  private starting: ((error?: Error) => void) | null;

  private constructor(started: (error?: Error) => void, events: CheckpointerEvents) {
    this.starting = started;
    let markStopped!: () => void;
    this.stopped = new Promise((resolve) => (markStopped = resolve));
    this.worker.onmessage = (event: MessageEvent<CheckpointerMessage>) => this.receive(event.data, events, markStopped);
    this.worker.onerror = (error) => {
      this.running = false;
      this.settle(new Error(error.message));
      markStopped();
    };
  }

  private receive(message: CheckpointerMessage, events: CheckpointerEvents, markStopped: () => void): void {
    switch (message.kind) {
      case "checkpointed":
        this.checkpoints += 1;
        this.last = { frames: message.frames, walFrames: message.walFrames };
        return;
      case "started":
        this.running = true;
        return this.settle();
      case "failed":
        if (this.starting) return this.settle(new Error(message.message));
        this.failing = true;
        return events.onFailure?.(message.message);
      case "recovered":
        this.failing = false;
        return events.onRecovery?.();
      case "stopped":
        this.running = false;
        return markStopped();
    }
  }

  /** Whether the thread runs and its last checkpoint, if any, succeeded (the metrics' view). */
  get up(): boolean {
    return this.running && !this.failing;
  }

  private settle(error?: Error): void {
    const starting = this.starting;
    this.starting = null;
    if (error) this.worker.terminate();
    starting?.(error);
  }

  /**
   * Starts the thread on `path` and waits until its connection is open. A thread that cannot open the file is
   * an error: the caller goes on without it, with SQLite's own checkpoints.
   */
  static start(path: string, events: CheckpointerEvents = {}, intervalMs = CHECKPOINT_INTERVAL_MS): Promise<WalCheckpointer> {
    return new Promise((resolve, reject) => {
      const checkpointer: WalCheckpointer = new WalCheckpointer((error) => (error ? reject(error) : resolve(checkpointer)), events);
      checkpointer.worker.postMessage({ kind: "start", path, intervalMs } satisfies CheckpointerRequest);
    });
  }

  /** Stops the thread after the checkpoint it is running, if any, and closes its connection. */
  async stop(): Promise<void> {
    this.worker.postMessage({ kind: "stop" } satisfies CheckpointerRequest);
    await this.stopped;
    this.worker.terminate();
  }
}
