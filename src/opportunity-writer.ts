import type { CommittedBatch } from "./storage/port";
import { lockWasHeld } from "./storage/sqlite/errors";
import type { SqliteStorage } from "./storage/sqlite/storage";
import type { WriteUnit } from "./write/batch-plan";
import { DEFAULT_MAX_BATCH, GroupCommit, type GroupCommitOptions } from "./write/group-commit";

export { MESSAGES, type WriteResult } from "./write/batch-plan";
export { DEFAULT_MAX_BATCH, type CommitObserver } from "./write/group-commit";

export type WriterOptions = GroupCommitOptions;

/** Whether these options commit a request that comes alone at once: group commit, without a batch wait. */
export function commitsLoneRequestAtOnce(options: WriterOptions): boolean {
  return (options.maxBatch ?? DEFAULT_MAX_BATCH) > 1 && (options.batchWaitMs ?? 0) === 0;
}

/**
 * The write path on a SQLite file: the group-commit queue (write/group-commit.ts) over SqliteStorage, plus the
 * one thing only an in-process database allows, committing a lone request synchronously on the calling thread.
 */
export class OpportunityWriter extends GroupCommit {
  constructor(
    private readonly storage: SqliteStorage,
    options: WriterOptions = {},
  ) {
    super(storage, options);
  }

  /**
   * Commits `requests` as one batch now, in this turn of the loop, if the write lock is free at this instant:
   * for a caller that knows no other request is coming to join them (the writer thread's client, for a lone
   * request). When another connection holds the lock (an import beside the server) it writes nothing and
   * returns null at once, rather than this thread sitting out the busy timeout: the caller hands the batch to a
   * writer that may wait. Reported to onCommit like any commit; other failures are thrown.
   */
  commitNow(requests: readonly WriteUnit[], options: { allOrNothing?: boolean } = {}): CommittedBatch | null {
    const { needs, decide } = this.batchOf(requests, options);
    try {
      return this.report(this.storage.commitBatchNow(needs, decide, { lockFree: true }));
    } catch (error) {
      if (lockWasHeld(error)) return null;
      throw error;
    }
  }
}
