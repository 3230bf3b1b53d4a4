import type { SQL } from "bun";
import type { IdempotencyClaim } from "../../idempotency";
import { keySlot, type KeySave, type StoredKey } from "../../write/batch-plan";

/**
 * Idempotency keys on PostgreSQL: the same two tables as on SQLite, read and written set-based (one statement
 * per kind for the whole batch) so that the head lock is held for a fixed number of round trips.
 */

export const CREATE_IDEMPOTENCY_TABLES = `
CREATE TABLE idempotency_keys (
  client      text NOT NULL,
  key         text NOT NULL,
  fingerprint text NOT NULL,
  outcome     text NOT NULL,
  created_at  text NOT NULL,
  stream_id   text,
  position    int8,
  appended    int8,
  PRIMARY KEY (client, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
CREATE TABLE idempotency_key_counts (
  client     text NOT NULL,
  bucket_end text NOT NULL,
  keys       int8 NOT NULL,
  PRIMARY KEY (client, bucket_end)
)`;

/** The stored key of each claim (by keySlot), or null. */
export function readStoredKeys(sql: SQL, claims: readonly IdempotencyClaim[]): PromiseLike<Map<string, StoredKey | null>> {
  const keys = new Map<string, StoredKey | null>(claims.map((claim) => [keySlot(claim), null]));
  if (claims.length === 0) return Promise.resolve(keys);
  const clients = sql.array(claims.map((claim) => claim.client), "TEXT");
  const names = sql.array(claims.map((claim) => claim.key), "TEXT");
  return sql`
    SELECT k.client, k.key, k.fingerprint, k.outcome FROM idempotency_keys AS k
    JOIN unnest(${clients}, ${names}) AS c(client, key) ON k.client = c.client AND k.key = c.key`.then(
    (rows: { client: string; key: string; fingerprint: string; outcome: string }[]) => {
      for (const row of rows) keys.set(keySlot({ client: row.client, key: row.key, fingerprint: "" }), { fingerprint: row.fingerprint, outcome: JSON.parse(row.outcome) });
      return keys;
    },
  );
}

/** Unexpired keys held per client: the counts of buckets ending after `cutoff`. */
export function readKeysHeld(sql: SQL, clients: readonly string[], cutoff: string): PromiseLike<Map<string, number>> {
  const held = new Map<string, number>(clients.map((client) => [client, 0]));
  if (clients.length === 0) return Promise.resolve(held);
  return sql`
    SELECT client, SUM(keys) AS n FROM idempotency_key_counts
    WHERE client = ANY(${sql.array([...clients], "TEXT")}) AND bucket_end > ${cutoff} GROUP BY client`.then((rows: { client: string; n: string }[]) => {
    for (const row of rows) held.set(row.client, Number(row.n));
    return held;
  });
}

/** Stores the keys of a batch and adds them to their clients' bucket counts: two statements, not awaited here. */
export function saveKeys(sql: SQL, keys: readonly KeySave[]): PromiseLike<unknown>[] {
  if (keys.length === 0) return [];
  // A batch update's key names no one stream: its stream_id is NULL (an array element may be null).
  const text = (pick: (key: KeySave) => string | null) => sql.array(keys.map(pick) as string[], "TEXT");
  const int8 = (pick: (key: KeySave) => number) => sql.array(keys.map(pick), "INT8");
  return [
    sql`
      INSERT INTO idempotency_keys (client, key, fingerprint, outcome, created_at, stream_id, position, appended)
      SELECT * FROM unnest(${text((k) => k.claim.client)}, ${text((k) => k.claim.key)}, ${text((k) => k.claim.fingerprint)}, ${text((k) => k.outcome)},
        ${text((k) => k.createdAt)}, ${text((k) => k.proof.streamId)}, ${int8((k) => k.proof.position)}, ${int8((k) => k.proof.appended)})`,
    sql`
      INSERT INTO idempotency_key_counts (client, bucket_end, keys)
      SELECT client, bucket_end, count(*) FROM unnest(${text((k) => k.claim.client)}, ${text((k) => k.bucketEnd)}) AS t(client, bucket_end)
      GROUP BY client, bucket_end
      ON CONFLICT (client, bucket_end) DO UPDATE SET keys = idempotency_key_counts.keys + EXCLUDED.keys`,
  ];
}

/**
 * Forgets at most `limit` keys first used before `before`; returns how many. Rows another instance is pruning
 * at the same moment are skipped, not waited for (no deadlock between two pruners). When fewer than `limit`
 * were left, the counts of buckets wholly before `before` go too. Takes no head lock: expired keys are never
 * counted, and a batch that read an expired key before it went answers from it as it would have anyway.
 */
export async function pruneKeys(sql: SQL, before: string, limit: number): Promise<number> {
  const [row] = await sql`
    WITH doomed AS (SELECT client, key FROM idempotency_keys WHERE created_at < ${before} LIMIT ${limit} FOR UPDATE SKIP LOCKED),
    gone AS (DELETE FROM idempotency_keys AS k USING doomed AS d WHERE k.client = d.client AND k.key = d.key RETURNING 1)
    SELECT count(*) AS n FROM gone`;
  const pruned = Number(row.n);
  if (pruned < limit) await sql`DELETE FROM idempotency_key_counts WHERE bucket_end <= ${before}`;
  return pruned;
}
