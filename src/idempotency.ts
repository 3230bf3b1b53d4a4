import type { Database, Statement } from "bun:sqlite";

/**
 * Idempotency keys: a client that retries a write with the same `Idempotency-Key` gets the first answer
 * again and nothing is applied twice. Each key is kept per client, with a fingerprint of the request it was
 * first used for, the outcome, and where in the event chain that outcome was reached (its proof, checked by
 * `verify`). It is saved in the same transaction as the events of that request, so a crash can never leave the
 * one without the other.
 */
export function createIdempotencyTable(db: Database): void {
  // The shape of schema version 2, kept as it was: migration 3 adds to it (see addIdempotencyProof).
  db.run(`CREATE TABLE IF NOT EXISTS idempotency_keys (
    client      TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (client, key)
  ) WITHOUT ROWID`);
  db.run("CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at)");
}

/** The columns that tie a stored outcome to the events (NULL in rows stored before schema version 3). */
export const PROOF_COLUMNS = { stream_id: "TEXT", position: "INTEGER", appended: "INTEGER" } as const;

/** How many keys per client are held, hour by hour: counting them is then a sum over a few rows, not a scan. */
const createKeyCounts = `CREATE TABLE idempotency_key_counts (
  client     TEXT    NOT NULL,
  bucket_end TEXT    NOT NULL,
  keys       INTEGER NOT NULL,
  PRIMARY KEY (client, bucket_end)
) WITHOUT ROWID`;

const tableExists = (db: Database, name: string) =>
  db.query<{ n: number }, [string]>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?").get(name)!.n > 0;

/**
 * Schema version 3: the proof columns, and the per-client key counts filled from the keys already held (by the
 * hour each was first used, the narrowest bucket the writer uses). Idempotent, like the earlier steps, for
 * databases that already hold part of it.
 */
export function addIdempotencyProof(db: Database): void {
  const columns = new Set(db.query<{ name: string }, []>("PRAGMA table_info(idempotency_keys)").all().map((column) => column.name));
  for (const [name, type] of Object.entries(PROOF_COLUMNS)) {
    if (!columns.has(name)) db.run(`ALTER TABLE idempotency_keys ADD COLUMN ${name} ${type}`);
  }
  if (tableExists(db, "idempotency_key_counts")) return;
  db.run(createKeyCounts);
  db.run(`INSERT INTO idempotency_key_counts (client, bucket_end, keys)
    SELECT client, strftime('%Y-%m-%dT%H:00:00.000Z', created_at, '+1 hour') AS bucket, COUNT(*) FROM idempotency_keys
    WHERE bucket IS NOT NULL GROUP BY client, bucket`);
}

/** What a request with an idempotency key carries to the writer. */
export interface IdempotencyClaim {
  client: string;
  key: string;
  /** sha256 of the method, path and canonical body: the same request, however its JSON was spelled. */
  fingerprint: string;
}

/**
 * Where a stored outcome was reached: the opportunity the request named, the chain's last position before the
 * request was decided, and how many events it appended (they follow that position, carrying the key).
 */
export interface OutcomeProof {
  streamId: string;
  position: number;
  appended: number;
}

export const DEFAULT_IDEMPOTENCY_TTL_HOURS = 24;
export const DEFAULT_IDEMPOTENCY_MAX_KEYS = 100_000;
const HOUR_MS = 3_600_000;

/** How long keys are kept and how many a client may hold within that time. */
export class KeyRetention {
  readonly ttlMs: number;
  /** Keys are counted per bucket of this width: an hour, or a 24th of the TTL when that is longer. */
  readonly bucketMs: number;

  constructor(
    ttlHours = DEFAULT_IDEMPOTENCY_TTL_HOURS,
    readonly maxKeysPerClient = DEFAULT_IDEMPOTENCY_MAX_KEYS,
  ) {
    this.ttlMs = ttlHours * HOUR_MS;
    this.bucketMs = Math.ceil(ttlHours / 24) * HOUR_MS;
  }

  /** Keys first used before this instant have expired. */
  cutoff(now: Date): string {
    return new Date(now.getTime() - this.ttlMs).toISOString();
  }

  /** The end of the bucket a key first used at `at` is counted in. */
  bucketEnd(at: Date): string {
    return new Date((Math.floor(at.getTime() / this.bucketMs) + 1) * this.bucketMs).toISOString();
  }

  /** The clear refusal of a new key beyond the cap: nothing was done, and when it will pass. */
  limitMessage(): string {
    const hours = this.ttlMs / HOUR_MS;
    return `Idempotency-Key 数量已达上限（每个调用方 ${hours} 小时内最多 ${this.maxKeysPerClient} 个），本次未做任何修改，请稍后重试`;
  }
}

export class IdempotencyKeys {
  private readonly findKey: Statement<{ fingerprint: string; outcome: string }, [string, string]>;
  private readonly insertKey: Statement<unknown, [string, string, string, string, string, string, number, number]>;
  private readonly countKey: Statement<unknown, [string, string]>;
  private readonly heldKeys: Statement<{ n: number }, [string, string]>;
  private readonly pruneKeys: Statement<unknown, [string, number]>;
  private readonly pruneCounts: Statement<unknown, [string]>;

  /** On a database at the current schema version (see schema-migrations.ts). */
  constructor(db: Database) {
    this.findKey = db.prepare("SELECT fingerprint, outcome FROM idempotency_keys WHERE client = ? AND key = ?");
    this.insertKey = db.prepare(
      "INSERT INTO idempotency_keys (client, key, fingerprint, outcome, created_at, stream_id, position, appended) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.countKey = db.prepare(
      "INSERT INTO idempotency_key_counts (client, bucket_end, keys) VALUES (?, ?, 1) ON CONFLICT (client, bucket_end) DO UPDATE SET keys = keys + 1",
    );
    this.heldKeys = db.prepare("SELECT COALESCE(SUM(keys), 0) AS n FROM idempotency_key_counts WHERE client = ? AND bucket_end > ?");
    // The index on created_at finds a chunk; the primary key deletes it.
    this.pruneKeys = db.prepare(
      "DELETE FROM idempotency_keys WHERE (client, key) IN (SELECT client, key FROM idempotency_keys WHERE created_at < ? LIMIT ?)",
    );
    this.pruneCounts = db.prepare("DELETE FROM idempotency_key_counts WHERE bucket_end <= ?");
  }

  find(claim: IdempotencyClaim): { fingerprint: string; outcome: unknown } | null {
    const row = this.findKey.get(claim.client, claim.key);
    return row ? { fingerprint: row.fingerprint, outcome: JSON.parse(row.outcome) } : null;
  }

  /**
   * Keys `client` holds that have not expired at `now`. Counted by bucket, so a key counts until the whole
   * bucket it fell in has expired: at most one bucket (an hour by default) past its TTL, never less than its TTL.
   * Expired keys do not count whether or not they have been pruned yet.
   */
  heldBy(client: string, now: Date, retention: KeyRetention): number {
    return this.heldKeys.get(client, retention.cutoff(now))!.n;
  }

  save(claim: IdempotencyClaim, outcome: unknown, proof: OutcomeProof, at: Date, retention: KeyRetention): void {
    this.insertKey.run(claim.client, claim.key, claim.fingerprint, JSON.stringify(outcome), at.toISOString(), proof.streamId, proof.position, proof.appended);
    this.countKey.run(claim.client, retention.bucketEnd(at));
  }

  /**
   * Forgets at most `limit` keys first used before `before`; returns how many. When fewer were left, the
   * counts of buckets wholly before `before` go too (their keys are all gone or expired).
   */
  pruneChunk(before: Date, limit: number): number {
    const pruned = (this.pruneKeys.run(before.toISOString(), limit) as { changes: number }).changes;
    if (pruned < limit) this.pruneCounts.run(before.toISOString());
    return pruned;
  }
}
