import type { Opportunity } from "../../projections/opportunity-state";

/**
 * States of streams at some versions, kept in memory so that a point-in-time read folds from the nearest
 * earlier one instead of from the first event. A stream's events never change once written, so a state at a
 * version stays true. Bounded: at most `capacity` states in all (a state can hold a few KB of text); the
 * streams read least recently are dropped first.
 */
export class FoldSnapshots {
  /** Per stream, its states by version; the Map's order is the order of use, least recent first. */
  private readonly streams = new Map<string, Map<number, Opportunity | null>>();
  private size = 0;

  constructor(private readonly capacity = 2_000) {}

  /** The state at the greatest remembered version at or below `through`; version 0 (no state) when none. */
  nearest(streamId: string, through: number): { version: number; state: Opportunity | null } {
    const best: { version: number; state: Opportunity | null } = { version: 0, state: null };
    const versions = this.streams.get(streamId);
    if (!versions) return best;
    this.streams.delete(streamId);
    this.streams.set(streamId, versions);
    for (const [version, state] of versions) {
      if (version <= through && version > best.version) {
        best.version = version;
        best.state = state;
      }
    }
    return best;
  }

  /** Keeps the state of a stream after `version`; frozen, as it is handed out to many readers. */
  remember(streamId: string, version: number, state: Opportunity | null): void {
    const versions = this.streams.get(streamId) ?? new Map<number, Opportunity | null>();
    if (versions.has(version)) return;
    for (const [oldest, states] of this.streams) {
      if (this.size < this.capacity) break;
      if (oldest === streamId) continue;
      this.streams.delete(oldest);
      this.size -= states.size;
    }
    // One stream alone at the cap keeps what it has: its earlier states already spare most of a fold.
    if (this.size >= this.capacity) return;
    versions.set(version, state === null ? null : Object.freeze(state));
    this.streams.set(streamId, versions);
    this.size += 1;
  }

  /** How many states are held (for tests). */
  get count(): number {
    return this.size;
  }
}
