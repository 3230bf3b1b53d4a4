import type { Database } from "bun:sqlite";
import { parseExactJson } from "../../../events/exact-json";
import { evolveOwned, type Opportunity } from "../../../projections/opportunity-state";

/** The streams whose id is at least `from` (none: from the first) and below `to` (none: through the last). */
export interface StreamRange {
  from: string | null;
  to: string | null;
}

export const ALL_STREAMS: StreamRange = { from: null, to: null };

/** What folding a range of streams gives: the latest state of each stream that has one, and the events read. */
export interface RangeFold {
  states: Opportunity[];
  events: number;
}

type FoldRow = { stream_id: string; type: string; data: string; version: number; recorded_at: string };

/**
 * The WHERE clause of a range's rows through `throughPosition`. The bound makes connections opened at different
 * times read the same rows: events are append-only, so every row up to a position stays as it was.
 */
export function rangeWhere(range: StreamRange, throughPosition: number): { where: string; params: (string | number)[] } {
  const bounds = ["position <= ?"];
  const params: (string | number)[] = [throughPosition];
  if (range.from !== null) bounds.push("stream_id >= ?"), params.push(range.from);
  if (range.to !== null) bounds.push("stream_id < ?"), params.push(range.to);
  return { where: `WHERE ${bounds.join(" AND ")}`, params };
}

/**
 * Folds every event of the streams in `range`, one stream after another. The (stream_id, version) index gives
 * each stream's events together and in version order (the order their appends were decided in), so only one
 * state is open at a time and no lookup per event is needed; ranges are independent, which lets threads
 * share a rebuild.
 */
export function foldStreamRange(db: Database, range: StreamRange, throughPosition: number): RangeFold {
  const { where, params } = rangeWhere(range, throughPosition);
  const rows = db.prepare<FoldRow, (string | number)[]>(`SELECT stream_id, type, data, version, recorded_at FROM events ${where} ORDER BY stream_id, version`);
  const states: Opportunity[] = [];
  let stream: string | null = null;
  let state: Opportunity | null = null;
  let events = 0;
  for (const row of rows.iterate(...params)) {
    if (row.stream_id !== stream) {
      if (state) states.push(state);
      stream = row.stream_id;
      state = null;
    }
    state = evolveOwned(state, { type: row.type, data: parseExactJson(row.data), version: row.version, recordedAt: row.recorded_at });
    events += 1;
  }
  if (state) states.push(state);
  rows.finalize();
  return { states, events };
}

/**
 * Cuts the streams into at most `parts` ranges of about as many events each, at stream boundaries (a stream is
 * never split, and no range is empty): each cut is the stream at its share of the events, or, where a long
 * stream already covers that point, the next stream after the last cut. Read from the (stream_id, version)
 * index alone.
 */
export function splitStreams(db: Database, parts: number, events: number): StreamRange[] {
  const at = db.prepare<{ stream_id: string }, [number]>("SELECT stream_id FROM events ORDER BY stream_id LIMIT 1 OFFSET ?");
  const after = db.prepare<{ stream_id: string }, [string]>("SELECT stream_id FROM events WHERE stream_id > ? ORDER BY stream_id LIMIT 1");
  const cuts: string[] = [];
  let last = at.get(0)?.stream_id;
  for (let part = 1; part < parts && last !== undefined; part++) {
    const share = at.get(Math.floor((events * part) / parts))?.stream_id;
    const cut = share !== undefined && share > last ? share : after.get(last)?.stream_id;
    if (cut === undefined) break;
    cuts.push(cut);
    last = cut;
  }
  at.finalize();
  after.finalize();
  const bounds = [null, ...cuts, null];
  return bounds.slice(0, -1).map((from, index) => ({ from, to: bounds[index + 1]! }));
}
