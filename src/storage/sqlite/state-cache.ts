import type { Database, Statement } from "bun:sqlite";
import type { Opportunity } from "../../../projections/opportunity-state";

/** Opportunities kept; the oldest used goes first beyond it, so memory stays bounded on any number of them. */
export const STATE_CACHE_LIMIT = 20_000;

/**
 * The states (and the largest id) a connection's batches read, kept from one batch to the next so that a batch
 * need not read and decode the projection rows its previous batches just wrote: in the writer's profile, that
 * read (`get` + the row decoding) was about a tenth of its time.
 *
 * Trusted only while no other connection has committed: SQLite's `PRAGMA data_version` changes for a
 * connection exactly when another connection (another thread's, another process's: an import, a restore)
 * has committed, so every batch looks at it inside its transaction, after the write lock was taken, and starts
 * over when it moved. The connection's own commits leave it as it is, and are put here only once committed.
 */
export class StateCache {
  private readonly states = new Map<string, Opportunity | null>();
  private largestId: number | undefined;
  private seenVersion = -1;
  private readonly dataVersion: Statement<{ data_version: number }, []>;

  constructor(
    db: Database,
    private readonly limit = STATE_CACHE_LIMIT,
  ) {
    this.dataVersion = db.prepare("PRAGMA data_version");
  }

  /** Inside the batch's transaction: forget everything when another connection has committed since. */
  revalidate(): void {
    const version = this.dataVersion.get()!.data_version;
    if (version === this.seenVersion) return;
    this.states.clear();
    this.largestId = undefined;
    this.seenVersion = version;
  }

  /** A code's state as cached (null: known not to exist), or undefined when it must be read. */
  state(code: string): Opportunity | null | undefined {
    const state = this.states.get(code);
    if (state === undefined) return undefined;
    // Most recently used last: a Map keeps insertion order.
    this.states.delete(code);
    this.states.set(code, state);
    return state;
  }

  /** What was read under the lock, kept for the next batch. */
  noteRead(code: string, state: Opportunity | null): void {
    this.put(code, state);
  }

  largest(read: () => number): number {
    this.largestId ??= read();
    return this.largestId;
  }

  /** After a commit: the states the batch left and the ids it gave. */
  noteCommitted(states: Iterable<Opportunity>): void {
    for (const state of states) {
      this.put(state.opportunityCode, state);
      if (this.largestId !== undefined && state.id > this.largestId) this.largestId = state.id;
    }
  }

  /** After a rollback: what the batch may have read or changed is not known to hold. */
  forget(): void {
    this.states.clear();
    this.largestId = undefined;
  }

  finalize(): void {
    this.dataVersion.finalize();
  }

  private put(code: string, state: Opportunity | null): void {
    this.states.delete(code);
    this.states.set(code, state);
    if (this.states.size > this.limit) this.states.delete(this.states.keys().next().value!);
  }
}
