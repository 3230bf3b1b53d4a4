import type { Database } from "bun:sqlite";
import { parseExactJson } from "../../../events/exact-json";
import { evolveOwned, type Opportunity } from "../../../projections/opportunity-state";
import { OpportunitiesTable } from "./opportunity-rows";
import { OPPORTUNITIES_TABLE } from "./schema";

/** Folds every event in the store, in global order, into one state per opportunity. */
export function foldAllEvents(db: Database): { states: Map<string, Opportunity>; events: number } {
  const states = new Map<string, Opportunity>();
  let events = 0;
  const rows = db.query<{ stream_id: string; type: string; data: string; version: number; recorded_at: string }, []>(
    "SELECT stream_id, type, data, version, recorded_at FROM events ORDER BY position",
  );
  for (const row of rows.iterate()) {
    const next = evolveOwned(states.get(row.stream_id) ?? null, {
      type: row.type,
      data: parseExactJson(row.data),
      version: row.version,
      recordedAt: row.recorded_at,
    });
    if (next) states.set(row.stream_id, next);
    events += 1;
  }
  return { states, events };
}

/**
 * Recreates the opportunities table from the events alone, in one transaction: readers keep seeing the old
 * table until the new one is swapped in at commit.
 */
export function rebuildOpportunities(db: Database): { opportunities: number; events: number } {
  const staging = `${OPPORTUNITIES_TABLE}_rebuild`;
  return db
    .transaction(() => {
      const { states, events } = foldAllEvents(db);
      db.run(`DROP TABLE IF EXISTS ${staging}`);
      const table = new OpportunitiesTable(db, staging);
      for (const state of states.values()) table.insert(state);
      table.finalize();
      db.run(`DROP TABLE IF EXISTS ${OPPORTUNITIES_TABLE}`);
      db.run(`ALTER TABLE ${staging} RENAME TO ${OPPORTUNITIES_TABLE}`);
      return { opportunities: states.size, events };
    })
    .immediate();
}
