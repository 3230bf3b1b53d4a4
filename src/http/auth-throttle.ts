/**
 * Slows down secret guessing: an address that fails authentication `limit` times within a sliding window of
 * `windowMs` is refused (429) for `lockoutMs`, without touching any other caller. A success does not clear the
 * count: a client holding one valid secret (even an auditor's) must not be able to guess others for free.
 *
 * The window slides as a two-bucket counter (the failures of the current bucket plus the previous bucket's,
 * weighted by how much of it still lies inside the window), so memory per address stays constant whatever the
 * limit. Entries expire, and the table is swept once per window.
 */
export interface ThrottleOptions {
  /** Failures allowed per address within the window; 0 turns throttling off. */
  limit: number;
  windowMs: number;
  lockoutMs: number;
  now?: () => number;
}

const MAX_ENTRIES = 100_000;

interface Entry {
  bucketStart: number;
  current: number;
  previous: number;
  lockedUntil: number;
}

export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private lastSweep: number;

  constructor(private readonly options: ThrottleOptions) {
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
  }

  /** Whether any address has failures on record (when none has, nothing needs looking up). */
  get counting(): boolean {
    if (this.options.limit === 0 || this.entries.size === 0) return false;
    const now = this.now();
    if (now - this.lastSweep > this.options.windowMs) this.sweep(now);
    return this.entries.size > 0;
  }

  /** Milliseconds the address must still wait, or 0 when it may try. */
  lockedFor(address: string): number {
    if (this.options.limit === 0) return 0;
    const entry = this.entries.get(address);
    return entry ? Math.max(0, entry.lockedUntil - this.now()) : 0;
  }

  noteFailure(address: string): void {
    if (this.options.limit === 0) return;
    const now = this.now();
    let entry = this.entries.get(address);
    if (!entry) {
      if (this.entries.size >= MAX_ENTRIES) this.makeRoom();
      entry = { bucketStart: now, current: 0, previous: 0, lockedUntil: 0 };
      this.entries.set(address, entry);
    }
    this.roll(entry, now);
    entry.current += 1;
    if (this.failuresInWindow(entry, now) >= this.options.limit) entry.lockedUntil = now + this.options.lockoutMs;
  }

  /** Moves the buckets on to the one `now` falls in. */
  private roll(entry: Entry, now: number): void {
    const windowMs = this.options.windowMs;
    const elapsedBuckets = Math.floor((now - entry.bucketStart) / windowMs);
    if (elapsedBuckets <= 0) return;
    entry.previous = elapsedBuckets === 1 ? entry.current : 0;
    entry.current = 0;
    entry.bucketStart += elapsedBuckets * windowMs;
  }

  private failuresInWindow(entry: Entry, now: number): number {
    const stillInside = 1 - (now - entry.bucketStart) / this.options.windowMs;
    return entry.current + entry.previous * stillInside;
  }

  /** Forgets the address first seen longest ago: memory stays bounded under a flood from many addresses. */
  private makeRoom(): void {
    const oldest = this.entries.keys().next().value;
    if (oldest !== undefined) this.entries.delete(oldest);
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [address, entry] of this.entries) {
      this.roll(entry, now);
      if (entry.lockedUntil <= now && entry.current === 0 && entry.previous === 0) this.entries.delete(address);
    }
  }
}
