import { log } from "../log";
import type { MetricsSources } from "../metrics";
import { openServiceStore } from "../service-store";
import type { Storage } from "../storage/port";
import type { DatabaseLocation } from "../storage/location";
import { openPostgresStorage } from "../storage/postgres/storage";
import type { StorageUnavailableError } from "../storage-errors";
import { GroupCommit, type GroupCommitOptions } from "../write/group-commit";
import { WriteWorkerClient } from "../write-worker-client";

/** What serve needs of its database, whichever backend it is: reads, the write path, and how to close both. */
export interface ServiceBackend {
  storage: Storage;
  writer: Pick<GroupCommit, "execute" | "executeBatch" | "executeMany" | "pruneIdempotencyKeys" | "onCommit" | "retention">;
  /** What only this backend can report to the metrics. */
  metrics: Pick<MetricsSources, "dbPath" | "writePaths">;
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
 * A SQLite file: this thread's connection migrates the file and answers reads; writes go through the writer
 * thread (which commits, and waits for fsync, while this thread goes on parsing requests), or are committed
 * in-process. A request that comes alone is committed on this thread: see write-worker-client.ts.
 */
async function openSqliteBackend(path: string, options: BackendOptions): Promise<ServiceBackend> {
  const service = openServiceStore(path, { writer: options.writer });
  const lone = { writer: service.writer, isAlone: options.isAlone };
  const thread = options.writerThread ? await WriteWorkerClient.start(path, options.writer, lone) : undefined;
  const health = service.storage.health;
  return {
    storage: service.storage,
    writer: thread ?? service.writer,
    metrics: { dbPath: path, writePaths: thread && (() => thread.counts) },
    noteCommit: () => health.noteCommit(),
    noteStorageFailure: (error) => health.noteStorageFailure(error),
    async close() {
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
