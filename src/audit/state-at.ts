import type { FoldableEvent, Opportunity } from "../../projections/opportunity-state";
import { evolve } from "../../projections/opportunity-state";

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
