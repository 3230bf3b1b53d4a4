import type { Database, Statement } from "bun:sqlite";
import type { IdempotencyClaim } from "../../idempotency";
import { keySlot, type KeySave, type StoredKey } from "../../write/batch-plan";

/**
 * The rows of idempotency keys (see createIdempotencyTable in schema.ts) and the per-client counts of them, by
 * bucket: finding the keys a batch claims, counting what a client holds, saving a batch's keys with the events
 * they answer for (same transaction), and pruning expired ones in chunks.
 */
export class IdempotencyKeys {
  private readonly findKey: Statement<{ fingerprint: string; outcome: string }, [string, string]>;
  private readonly insertKey: Statement<unknown, [string, string, string, string, string, string | null, number, number]>;
  private readonly countKeys: Statement<unknown, [string, string, number]>;
  private readonly heldKeys: Statement<{ n: number }, [string, string]>;
  private readonly pruneKeys: Statement<unknown, [string, number]>;
  private readonly pruneCounts: Statement<unknown, [string]>;

  /** On a database at the current schema version (see schema.ts). */
  constructor(db: Database) {
    this.findKey = db.prepare("SELECT fingerprint, outcome FROM idempotency_keys WHERE client = ? AND key = ?");
    this.insertKey = db.prepare(
      "INSERT INTO idempotency_keys (client, key, fingerprint, outcome, created_at, stream_id, position, appended) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.countKeys = db.prepare(
      "INSERT INTO idempotency_key_counts (client, bucket_end, keys) VALUES (?, ?, ?) ON CONFLICT (client, bucket_end) DO UPDATE SET keys = keys + excluded.keys",
    );
    this.heldKeys = db.prepare("SELECT COALESCE(SUM(keys), 0) AS n FROM idempotency_key_counts WHERE client = ? AND bucket_end > ?");
    // The index on created_at finds a chunk; the primary key deletes it.
    this.pruneKeys = db.prepare(
      "DELETE FROM idempotency_keys WHERE (client, key) IN (SELECT client, key FROM idempotency_keys WHERE created_at < ? LIMIT ?)",
    );
    this.pruneCounts = db.prepare("DELETE FROM idempotency_key_counts WHERE bucket_end <= ?");
  }

  /** The stored key of each claim, by keySlot; null for a key not stored. */
  findMany(claims: readonly IdempotencyClaim[]): Map<string, StoredKey | null> {
    const found = new Map<string, StoredKey | null>();
    for (const claim of claims) {
      const row = this.findKey.get(claim.client, claim.key);
      found.set(keySlot(claim), row ? { fingerprint: row.fingerprint, outcome: JSON.parse(row.outcome) } : null);
    }
    return found;
  }

  /**
   * Keys each client holds that were first used at or after `cutoff`. Counted by bucket, so a key counts until
   * the whole bucket it fell in has expired: at most one bucket (an hour by default) past its TTL, never less
   * than its TTL. Expired keys do not count whether or not they have been pruned yet.
   */
  heldPerClient(clients: readonly string[], cutoff: string): Map<string, number> {
    return new Map(clients.map((client) => [client, this.heldKeys.get(client, cutoff)!.n]));
  }

  /** Saves a batch's keys, and adds them to their clients' bucket counts (one upsert per client and bucket). */
  saveMany(keys: readonly KeySave[]): void {
    const counts = new Map<string, { client: string; bucketEnd: string; keys: number }>();
    for (const { claim, outcome, proof, createdAt, bucketEnd } of keys) {
      this.insertKey.run(claim.client, claim.key, claim.fingerprint, outcome, createdAt, proof.streamId, proof.position, proof.appended);
      const slot = `${claim.client}\n${bucketEnd}`;
      const count = counts.get(slot);
      if (count) count.keys += 1;
      else counts.set(slot, { client: claim.client, bucketEnd, keys: 1 });
    }
    for (const count of counts.values()) this.countKeys.run(count.client, count.bucketEnd, count.keys);
  }

  /**
   * Forgets at most `limit` keys first used before `before` (ISO text); returns how many. When fewer were left,
   * the counts of buckets wholly before `before` go too (their keys are all gone or expired).
   */
  pruneChunk(before: string, limit: number): number {
    const pruned = (this.pruneKeys.run(before, limit) as { changes: number }).changes;
    if (pruned < limit) this.pruneCounts.run(before);
    return pruned;
  }

  /** Releases the prepared statements, so that closing the database really closes it. */
  finalize(): void {
    for (const statement of [this.findKey, this.insertKey, this.countKeys, this.heldKeys, this.pruneKeys, this.pruneCounts]) statement.finalize();
  }
}
