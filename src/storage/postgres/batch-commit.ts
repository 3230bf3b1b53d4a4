import type { SQL, TransactionSQL } from "bun";
import type { EventRow } from "../../../events/stored-event";
import type { BatchPlan, BatchSnapshot, SnapshotNeeds } from "../../write/batch-plan";
import type { CommittedBatch, FormedBatch } from "../port";
import { asPostgresStorageError, isRetryable } from "./errors";
import { readKeysHeld, readStoredKeys, saveKeys } from "./idempotency-keys";
import { readMaxId, readStates, writeProjections } from "./opportunity-rows";

/**
 * One group-commit batch on PostgreSQL, in one READ COMMITTED transaction:
 *  1. lock the `event_head` row (FOR UPDATE): batches of every instance queue here, one at a time;
 *  2. read the snapshot the batch needs, in statements sent after the locking one (READ COMMITTED gives each
 *     statement a fresh snapshot, so they see everything the previous holder committed; under REPEATABLE READ
 *     a waiter would read a stale head and fork the chain). The lock and the reads go out together: one round
 *     trip, the server runs them in order;
 *  3. `decide` plans the batch in memory (pure);
 *  4. write the plan set-based (one statement per table, arrays unnested on the server), sent together;
 *  5. COMMIT.
 * So the lock is held for a fixed number of round trips, whatever the size of the batch.
 */

/** How many times a batch rolled back by a serialization failure or deadlock runs again. */
const RETRIES = 2;

type HeadRow = { position: string; hash: string };

/**
 * Locks the head row and answers it: taken first by every batch (and by rebuild and restore), so holding it keeps
 * every instance's writes out, one at a time.
 */
export function lockHead(tx: TransactionSQL): Promise<HeadRow> {
  return tx`SELECT position, hash FROM event_head FOR UPDATE`.then((rows: HeadRow[]) => {
    if (!rows[0]) throw new Error("the event_head row is missing: not a database of this service, or damaged");
    return rows[0];
  });
}

/** The snapshot's reads, sent together; `head` is the locking statement's answer (sent before them or earlier). */
async function readSnapshot(tx: TransactionSQL, needs: SnapshotNeeds, head: Promise<HeadRow> | HeadRow): Promise<BatchSnapshot> {
  const [headRow, states, maxId, keys, keysHeld] = await Promise.all([
    head,
    readStates(tx, needs.codes),
    readMaxId(tx),
    readStoredKeys(tx, needs.claims),
    readKeysHeld(tx, needs.clients, needs.keysCutoff),
  ]);
  const position = Number(headRow.position);
  return { head: position === 0 ? null : { position, hash: headRow.hash }, states, maxId, keys, keysHeld };
}

/** Inserts event rows set-based: one statement, one array per column (not awaited here). */
export function insertEvents(tx: SQL, rows: readonly EventRow[]): PromiseLike<unknown> {
  const text = (pick: (row: EventRow) => string) => tx.array(rows.map(pick), "TEXT");
  const int8 = (pick: (row: EventRow) => number) => tx.array(rows.map(pick), "INT8");
  return tx`
    INSERT INTO events (position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at, prev_hash, hash)
    SELECT * FROM unnest(${int8((r) => r.position)}, ${text((r) => r.event_id)}, ${text((r) => r.stream_id)}, ${int8((r) => r.version)},
      ${text((r) => r.type)}, ${tx.array(rows.map((r) => r.schema_version), "INT4")}, ${text((r) => r.data)}, ${text((r) => r.metadata)},
      ${text((r) => r.recorded_at)}, ${text((r) => r.prev_hash)}, ${text((r) => r.hash)})`;
}

function writePlan(tx: TransactionSQL, plan: BatchPlan): Promise<unknown[]> {
  const writes: PromiseLike<unknown>[] = [];
  if (plan.rows.length > 0) {
    writes.push(insertEvents(tx, plan.rows), tx`UPDATE event_head SET position = ${plan.head.position}, hash = ${plan.head.hash}`);
  }
  writes.push(...writeProjections(tx, plan.projections), ...saveKeys(tx, plan.keys));
  return Promise.all(writes);
}

/** Runs `work` in a transaction, again when the server rolled it back as a serialization failure or deadlock. */
async function inTransaction<T>(sql: SQL, work: (tx: TransactionSQL) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await sql.begin(work);
    } catch (error) {
      if (attempt < RETRIES && isRetryable(error)) continue;
      throw asPostgresStorageError(error);
    }
  }
}

/**
 * Commits one batch (see above): the lock and the reads go out together, one round trip. A batch the server
 * rolled back as a serialization failure or deadlock runs again, `decide` included; an unavailable database is
 * StorageUnavailableError; nothing of a failed batch stays.
 */
export async function commitBatch(sql: SQL, needs: SnapshotNeeds, decide: (snapshot: BatchSnapshot) => BatchPlan): Promise<CommittedBatch> {
  const started = performance.now();
  const plan = await inTransaction(sql, async (tx) => {
    // Started in this order: the head row's lock first, every read after it.
    const planned = decide(await readSnapshot(tx, needs, lockHead(tx)));
    await writePlan(tx, planned);
    return planned;
  });
  return { plan, seconds: (performance.now() - started) / 1000 };
}

/**
 * The same, with the batch formed once the lock is held: one more round trip under the lock, but the requests
 * that arrived while this instance waited for its turn join the batch (see BatchCommits.commitBatchWhenLocked).
 */
export async function commitBatchWhenLocked(sql: SQL, form: () => FormedBatch | null): Promise<CommittedBatch | null> {
  const started = performance.now();
  let formed: FormedBatch | null | undefined;
  const plan = await inTransaction(sql, async (tx) => {
    const head = await lockHead(tx);
    // Formed once: a rerun after a deadlock decides the same requests again.
    formed ??= form();
    if (formed === null) return null;
    const planned = formed.decide(await readSnapshot(tx, formed.needs, head));
    await writePlan(tx, planned);
    return planned;
  });
  return plan === null ? null : { plan, seconds: (performance.now() - started) / 1000 };
}
