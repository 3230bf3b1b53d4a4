import type { ReservedSQL, SQL } from "bun";

/**
 * A write transaction driven by hand on a reserved connection, so that BEGIN goes out with the first statement
 * and COMMIT with the last writes: one client round trip fewer while the head lock is held than `sql.begin`
 * (which awaits BEGIN, then the callback, then sends COMMIT). Every round trip under the lock is time no other
 * instance can write, so it is what two instances together lose against one.
 *
 * Safe because the server runs a connection's statements in order: a statement that fails aborts the
 * transaction, every later one (COMMIT included) fails or, for COMMIT, answers ROLLBACK. So the batch counts as
 * committed only when every write succeeded and COMMIT answered COMMIT; a check that must stop the commit has
 * to fail on the server (see writeProjections), since its answer arrives after COMMIT was sent.
 */
export class PipelinedTransaction {
  private open = true;

  private constructor(readonly sql: ReservedSQL) {}

  /**
   * Runs `work` in a transaction on a connection of its own; `work` ends it with `commitWith`. A failure
   * anywhere rolls it back (when the connection still stands) and rethrows; the connection goes back to the pool.
   */
  static async run<T>(pool: SQL, work: (tx: PipelinedTransaction) => Promise<T>): Promise<T> {
    const tx = new PipelinedTransaction(await pool.reserve());
    try {
      const result = await work(tx);
      if (tx.open) throw new Error("a pipelined transaction ended without commitWith");
      return result;
    } catch (error) {
      if (tx.open) await tx.sql`ROLLBACK`.catch(() => undefined);
      throw error;
    } finally {
      tx.sql.release();
    }
  }

  /** BEGIN and the first statements, sent together in this order: one round trip. */
  begin<T extends readonly PromiseLike<unknown>[]>(first: (sql: SQL) => T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
    const begun = sendNow(this.sql`BEGIN`);
    return Promise.all([begun, ...first(this.sql).map(sendNow)]).then(([, ...results]) => results) as never;
  }

  /** Sends the writes and COMMIT together; resolves once committed, throws (nothing committed) otherwise. */
  async commitWith(writes: readonly PromiseLike<unknown>[]): Promise<void> {
    const sent = writes.map(sendNow);
    const commit = sendNow(this.sql`COMMIT`);
    this.open = false;
    const settled = await Promise.allSettled([...sent, commit]);
    const failed = settled.find((outcome) => outcome.status === "rejected");
    if (failed) throw failed.reason;
    const tag = (settled.at(-1) as PromiseFulfilledResult<{ command?: string }>).value.command;
    if (tag !== "COMMIT") throw new Error(`the transaction was not committed: the server answered ${tag ?? "nothing"} to COMMIT`);
  }
}

/**
 * Starts a query now (Bun's queries are lazy: they go out when awaited or executed). Promise.all would start
 * them a microtask later; starting them here makes the order they are sent in the order of the code.
 */
function sendNow<T>(query: PromiseLike<T>): PromiseLike<T> {
  const lazy = query as PromiseLike<T> & { execute?: () => PromiseLike<T> };
  return typeof lazy.execute === "function" ? lazy.execute() : query;
}
