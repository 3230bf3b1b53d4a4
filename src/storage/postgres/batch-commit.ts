import type { SQL } from "bun";
import type { EventRow } from "../../../events/stored-event";
import type { BatchPlan, BatchSnapshot, SnapshotNeeds } from "../../write/batch-plan";
import type { CommittedBatch, FormedBatch } from "../port";
import { asPostgresStorageError, isRetryable } from "./errors";
import { readKeysHeld, readStoredKeys, saveKeys } from "./idempotency-keys";
import { readMaxId, readStates, writeProjections } from "./opportunity-rows";
import { PipelinedTransaction } from "./pipelined-transaction";

/**
 * One group-commit batch on PostgreSQL, in one READ COMMITTED transaction:
 *  1. lock the `event_head` row (FOR UPDATE): batches of every instance queue here, one at a time;
 *  2. read the snapshot the batch needs, in statements sent after the locking one (READ COMMITTED gives each
 *     statement a fresh snapshot, so they see everything the previous holder committed; under REPEATABLE READ
 *     a waiter would read a stale head and fork the chain). BEGIN, the lock and the reads go out together: one
 *     round trip, the server runs them in order;
 *  3. `decide` plans the batch in memory (pure);
 *  4. write the plan set-based (one statement per table, arrays unnested on the server) and COMMIT, sent
 *     together (PipelinedTransaction): one more round trip.
 * So the lock is held for a fixed number of round trips, whatever the size of the batch.
 */

/** How many times a batch rolled back by a serialization failure or deadlock runs again. */
const RETRIES = 2;

type HeadRow = { position: string; hash: string };

/**
 * Locks the head row and answers it: taken first by every batch (and by rebuild and restore), so holding it keeps
 * every instance's writes out, one at a time.
 */
export function lockHead(tx: SQL): Promise<HeadRow> {
  return tx`SELECT position, hash FROM event_head FOR UPDATE`.then((rows: HeadRow[]) => {
    if (!rows[0]) throw new Error("the event_head row is missing: not a database of this service, or damaged");
    return rows[0];
  });
}

/** The snapshot's reads, in the order they are to be sent. */
function snapshotReads(tx: SQL, needs: SnapshotNeeds) {
  return [readStates(tx, needs.codes), readMaxId(tx), readStoredKeys(tx, needs.claims), readKeysHeld(tx, needs.clients, needs.keysCutoff)] as const;
}

/** What snapshotReads' statements answer, in their order. */
type SnapshotAnswers = [BatchSnapshot["states"], BatchSnapshot["maxId"], BatchSnapshot["keys"], BatchSnapshot["keysHeld"]];

function snapshotOf(headRow: HeadRow, [states, maxId, keys, keysHeld]: SnapshotAnswers): BatchSnapshot {
  const position = Number(headRow.position);
  return { head: position === 0 ? null : { position, hash: headRow.hash }, states, maxId, keys, keysHeld };
}

/**
 * What a batch of `needs` would be decided against now, without the head lock (dry runs): the head row and the
 * same reads as a batch's, in one REPEATABLE READ, READ ONLY transaction, so that all of it is one committed
 * instant. Nothing is locked or waited for; a batch committed meanwhile is simply not seen.
 */
export function readSnapshotUnlocked(sql: SQL, needs: SnapshotNeeds): Promise<BatchSnapshot> {
  return sql.begin("isolation level repeatable read read only", async (tx) => {
    const [headRows, ...reads] = await Promise.all([tx`SELECT position, hash FROM event_head` as Promise<HeadRow[]>, ...snapshotReads(tx, needs)]);
    if (!headRows[0]) throw new Error("the event_head row is missing: not a database of this service, or damaged");
    return snapshotOf(headRows[0], reads);
  });
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

/** The plan's writes, in the order they are to be sent (not awaited here). */
function planWrites(tx: SQL, plan: BatchPlan): PromiseLike<unknown>[] {
  const writes: PromiseLike<unknown>[] = [];
  if (plan.rows.length > 0) {
    writes.push(insertEvents(tx, plan.rows), tx`UPDATE event_head SET position = ${plan.head.position}, hash = ${plan.head.hash}`);
  }
  writes.push(...writeProjections(tx, plan.projections), ...saveKeys(tx, plan.keys));
  return writes;
}

/** Runs `work` in a transaction, again when the server rolled it back as a serialization failure or deadlock. */
async function inTransaction<T>(sql: SQL, work: (tx: PipelinedTransaction) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await PipelinedTransaction.run(sql, work);
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
    // Sent in this order: the head row's lock first, every read after it.
    const [head, ...reads] = await tx.begin((sql) => [lockHead(sql), ...snapshotReads(sql, needs)] as const);
    const planned = decide(snapshotOf(head, reads));
    await tx.commitWith(planWrites(tx.sql, planned));
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
    const [head] = await tx.begin((sql) => [lockHead(sql)] as const);
    // Formed once: a rerun after a deadlock decides the same requests again.
    formed ??= form();
    if (formed === null) {
      await tx.commitWith([]);
      return null;
    }
    const planned = formed.decide(snapshotOf(head, await Promise.all(snapshotReads(tx.sql, formed.needs))));
    await tx.commitWith(planWrites(tx.sql, planned));
    return planned;
  });
  return plan === null ? null : { plan, seconds: (performance.now() - started) / 1000 };
}
