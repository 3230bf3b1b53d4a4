/**
 * Idempotency keys: a client that retries a write with the same `Idempotency-Key` gets the first answer again and
 * nothing is applied twice. What a key is, where its outcome was reached, and how long keys are kept; the rows
 * themselves live in each storage backend (src/storage/sqlite/idempotency-keys.ts).
 */

/** What a request with an idempotency key carries to the writer. */
export interface IdempotencyClaim {
  client: string;
  key: string;
  /** sha256 of the method, path and canonical body: the same request, however its JSON was spelled. */
  fingerprint: string;
}

/** The refusal of a request's key itself: nothing was decided, stored or appended for it. */
export type KeyRefusal = { ok: false; reason: "idempotency_mismatch" | "in_flight" | "idempotency_limit"; message: string; version?: undefined };

/**
 * Where a stored outcome was reached: the opportunity the request named (null for a batch update, whose stored
 * answer names each item's), the chain's last position before the request was decided, and how many events it
 * appended (they follow that position, carrying the key).
 */
export interface OutcomeProof {
  streamId: string | null;
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
