/**
 * Slows down secret guessing: an address that fails authentication `limit` times within `windowMs` is
 * refused (429) for `lockoutMs`, without touching any other caller. A success clears the address's count.
 * Memory stays bounded: entries expire, and the table is swept when it grows.
 */
export interface ThrottleOptions {
  /** Failures allowed per address within the window; 0 turns throttling off. */
  limit: number;
  windowMs: number;
  lockoutMs: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

const SWEEP_AT = 10_000;

export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly options: ThrottleOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Whether any address has failures on record (when none has, nothing needs looking up). */
  get counting(): boolean {
    return this.options.limit !== 0 && this.entries.size > 0;
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
    if (!entry || now - entry.windowStart > this.options.windowMs) {
      entry = { failures: 0, windowStart: now, lockedUntil: 0 };
      if (this.entries.size >= SWEEP_AT) this.sweep(now);
      this.entries.set(address, entry);
    }
    entry.failures += 1;
    if (entry.failures >= this.options.limit) entry.lockedUntil = now + this.options.lockoutMs;
  }

  noteSuccess(address: string): void {
    this.entries.delete(address);
  }

  private sweep(now: number): void {
    for (const [address, entry] of this.entries) {
      if (entry.lockedUntil <= now && now - entry.windowStart > this.options.windowMs) this.entries.delete(address);
    }
  }
}
