import { log } from "../log";
import type { MetricsSources } from "../metrics";
import { openServiceStore } from "../service-store";
import type { Storage } from "../storage/port";
import type { DatabaseLocation } from "../storage/location";
import { openPostgresStorage } from "../storage/postgres/storage";
import type { StorageUnavailableError } from "../storage-errors";
import { GroupCommit, type GroupCommitOptions } from "../write/group-commit";
import { leaveCheckpointsToThread, WalCheckpointer } from "../storage/sqlite/wal-checkpoints";
import { WriteWorkerClient, type LoneRequests } from "../write-worker-client";

/** What serve needs of its database, whichever backend it is: reads, the write path, and how to close both. */
export interface ServiceBackend {
  storage: Storage;
  writer: Pick<GroupCommit, "execute" | "executeBatch" | "executeMany" | "pruneIdempotencyKeys" | "onCommit" | "retention">;
  /** What only this backend can report to the metrics. */
  metrics: Pick<MetricsSources, "dbPath" | "writePaths" | "walCheckpoints">;
  /** Told of each commit and each write the database could not take (readiness learns from them). */
  noteCommit(): void;
  noteStorageFailure(error: StorageUnavailableError): void;
  close(): Promise<{ checkpointed: boolean; checkpointError?: string }>;
}

export interface BackendOptions {
  writer: GroupCommitOptions;
  /** SQLite only: commit batches on a separate thread. */
  writerThread: boolean;
  /** Whether the request being handled is the only one (the SQLite writer thread's lone-request path). */
  isAlone: () => boolean;
}

/**
 * The WAL's checkpointer thread. Without it (it could not open the file) the service runs as well, with SQLite's
 * own checkpoints on the committing connection; a checkpoint that fails (a full disk) is logged, and the
 * writes' own errors tell the rest.
 */
async function startCheckpointer(path: string): Promise<WalCheckpointer | undefined> {
  try {
    return await WalCheckpointer.start(path, {
      onFailure: (reason) => log("warn", "the WAL could not be checkpointed; retrying", { reason }),
      onRecovery: () => log("info", "the WAL is checkpointed again"),
    });
  } catch (error) {
    log("warn", "no checkpointer thread; commits checkpoint the WAL themselves", { reason: (error as Error).message });
    return undefined;
  }
}

async function startWriterThread(path: string, options: BackendOptions, lone: LoneRequests, checkpointer: WalCheckpointer | undefined): Promise<WriteWorkerClient> {
  try {
    return await WriteWorkerClient.start(path, options.writer, lone, { checkpointThread: checkpointer !== undefined });
  } catch (error) {
    await checkpointer?.stop();
    throw error;
  }
}

/**
 * A SQLite file: this thread's connection migrates the file and answers reads; writes go through the writer
 * thread (which commits, and waits for fsync, while this thread goes on parsing requests), or are committed
 * in-process. A request that comes alone is committed on this thread: see write-worker-client.ts.
 */
async function openSqliteBackend(path: string, options: BackendOptions): Promise<ServiceBackend> {
  const service = openServiceStore(path, { writer: options.writer });
  const checkpointer = await startCheckpointer(path);
  if (checkpointer) leaveCheckpointsToThread(service.db);
  const lone = { writer: service.writer, isAlone: options.isAlone };
  const thread = options.writerThread ? await startWriterThread(path, options, lone, checkpointer) : undefined;
  const health = service.storage.health;
  return {
    storage: service.storage,
    writer: thread ?? service.writer,
    metrics: {
      dbPath: path,
      writePaths: thread && (() => thread.counts),
      walCheckpoints: () => ({ checkpoints: checkpointer?.checkpoints ?? 0, up: checkpointer?.up ?? false }),
    },
    noteCommit: () => health.noteCommit(),
    noteStorageFailure: (error) => health.noteStorageFailure(error),
    async close() {
      // Before the last checkpoint (TRUNCATE, on the writer's connection), which must find none running.
      await checkpointer?.stop();
      if (thread) {
        const closed = await thread.close();
        if (!closed.checkpointed) log("warn", "writer thread could not checkpoint the WAL", { reason: closed.checkpointError });
      }
      return service.close();
    },
  };
}

/** PostgreSQL: one pool per instance; batches of several instances are serialised by the database. */
async function openPostgresBackend(url: string, options: BackendOptions): Promise<ServiceBackend> {
  const storage = await openPostgresStorage(url);
  if (options.writerThread) log("debug", "writerThread applies to SQLite only; PostgreSQL commits from this thread");
  return {
    storage,
    writer: new GroupCommit(storage, options.writer),
    metrics: {},
    // The storage notes its own outcomes: every write goes through it on this thread.
    noteCommit: () => {},
    noteStorageFailure: () => {},
    close: () => storage.close(),
  };
}

export function openServiceBackend(location: DatabaseLocation, options: BackendOptions): Promise<ServiceBackend> {
  return location.kind === "sqlite" ? openSqliteBackend(location.path, options) : openPostgresBackend(location.url, options);
}
