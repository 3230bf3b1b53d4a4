import type { EventReads } from "../storage/port";
import type { FoldableEvent, Opportunity } from "../../projections/opportunity-state";
import { evolve } from "../../projections/opportunity-state";
import { FoldSnapshots } from "./fold-snapshots";

/** Where in a stream's history to stop: at a version, or at an instant (epoch milliseconds, inclusive). */
export type PointInTime = { version: number } | { asOf: number };

/**
 * The opportunity as it was at a point, folded from its events alone (never from the projection): the last
 * event at or before the point wins. Null when the opportunity did not exist yet.
 */
export function stateAt(events: readonly FoldableEvent[], point: PointInTime): Opportunity | null {
  let state: Opportunity | null = null;
  for (const event of events) {
    const reached = "version" in point ? event.version > point.version : Date.parse(event.recordedAt) > point.asOf;
    if (reached) break;
    state = evolve(state, event);
  }
  return state;
}

/** Events read and folded per slice; between slices other requests get the event loop. */
const SLICE = 500;
/** Versions whose recorded_at one statement compares, between turns of the event loop. */
const SCAN_SLICE = 5_000;
// recorded_at is stored as Date#toISOString(); beyond year 9999 that form changes ("+010000-…") and text
// order is no longer time order. No stored time is later than this.
const LAST_ISO_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The last version of a stream recorded at or before `asOf` (0 when none): where `stateAt` stops. */
/** The reads a point-in-time fold needs, from whichever backend. */
export type PointInTimeReads = Pick<EventReads, "streamVersion" | "readFoldInputs" | "firstVersionRecordedAfter">;

async function lastVersionAt(reads: PointInTimeReads, streamId: string, asOf: number, latest: number): Promise<number> {
  const recordedAt = new Date(Math.min(asOf, LAST_ISO_MS)).toISOString();
  for (let after = 0; after < latest; after += SCAN_SLICE) {
    if (after > 0) await nextTurn();
    const first = await reads.firstVersionRecordedAfter(streamId, recordedAt, after, Math.min(after + SCAN_SLICE, latest));
    if (first !== null) return first - 1;
  }
  return latest;
}

/** A stream's state at a point, as `stateAt` finds it, plus the stream's latest version (0: no such stream). */
export interface PointState {
  state: Opportunity | null;
  latestVersion: number;
}

/**
 * `stateAt` over the store, for the read routes: reads only the events up to the point and only the columns a
 * fold needs, starts from the nearest earlier snapshot, and folds in slices that yield to the event loop, so a
 * long history neither costs a full fold on every request nor holds up other requests while it is folded.
 * The stream's events up to the point are fixed once written, so the answer is the same as a fold of all.
 */
export async function readStateAt(reads: PointInTimeReads, streamId: string, point: PointInTime, snapshots: FoldSnapshots): Promise<PointState> {
  const latestVersion = await reads.streamVersion(streamId);
  const through = "version" in point ? Math.min(point.version, latestVersion) : await lastVersionAt(reads, streamId, point.asOf, latestVersion);
  let { version, state } = snapshots.nearest(streamId, through);
  while (version < through) {
    const slice = await reads.readFoldInputs(streamId, version, through, SLICE);
    if (slice.length === 0) break;
    for (const event of slice) state = evolve(state, event);
    version = slice[slice.length - 1]!.version;
    if (slice.length === SLICE) snapshots.remember(streamId, version, state);
    if (version < through) await nextTurn();
  }
  return { state, latestVersion };
}
