import type { EventMetadata } from "../events/opportunity-events";
import type { OpportunityCommand } from "./commands";
import type { IdempotencyClaim } from "./idempotency";
import { lockWasHeld } from "./storage/sqlite/errors";
import type { SqliteStorage } from "./storage/sqlite/storage";
import type { WriteResult } from "./write/batch-plan";
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
    if (this.pending > 0) return false;
    const busy = this.claim(idempotency);
    if (busy) {
      settle.resolve(busy);
      return true;
    }
    try {
      const { needs, decide } = this.batchOf([{ command, metadata, idempotency }]);
      const outcome = this.report(this.storage.commitBatchNow(needs, decide, { lockFree: true })).plan.outcomes[0]!;
      if ("result" in outcome) settle.resolve(outcome.result);
      else settle.reject(outcome.error);
      return true;
    } catch (error) {
      if (lockWasHeld(error)) return false;
      settle.reject(error);
      return true;
    } finally {
      this.release(idempotency);
    }
  }
}
