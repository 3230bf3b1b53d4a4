import type { SQL, TransactionSQL } from "bun";
import { columnJson } from "../../../events/stored-event";
import { evolveOwned, type Opportunity } from "../../../projections/opportunity-state";
import { insertOpportunities } from "./opportunity-rows";

const PAGE = 5_000;

/** Folds every event, in global order, into one state per opportunity (read page by page inside `tx`). */
async function foldAllEvents(tx: SQL): Promise<{ states: Map<string, Opportunity>; events: number }> {
  const states = new Map<string, Opportunity>();
  let events = 0;
  for (let after = 0; ; ) {
    const rows: { position: string; stream_id: string; type: string; data: string; version: string; recorded_at: string }[] = await tx`
      SELECT position, stream_id, type, data, version, recorded_at FROM events WHERE position > ${after} ORDER BY position LIMIT ${PAGE}`;
    for (const row of rows) {
      const next = evolveOwned(states.get(row.stream_id) ?? null, { type: row.type, data: columnJson(row.data), version: Number(row.version), recordedAt: row.recorded_at });
      if (next) states.set(row.stream_id, next);
    }
    events += rows.length;
    if (rows.length < PAGE) return { states, events };
    after = Number(rows[rows.length - 1]!.position);
  }
}

/**
 * Rewrites the opportunities table from the events alone, inside `tx`, which must already hold the head row's
 * lock: every instance's writes wait for it, so none can interleave with the rebuild; readers keep seeing the old
 * rows until the commit.
 */
export async function rewriteOpportunities(tx: TransactionSQL): Promise<{ opportunities: number; events: number }> {
  const { states, events } = await foldAllEvents(tx);
  await tx`DELETE FROM opportunities`;
  await insertOpportunities(tx, [...states.values()]);
  return { opportunities: states.size, events };
}

