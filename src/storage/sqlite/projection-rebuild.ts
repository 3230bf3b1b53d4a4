import type { Database } from "bun:sqlite";
import { OpportunitiesTable } from "./opportunity-rows";
import { rangeThreadCount, shareRanges, type RangeThreadOptions } from "./range-threads";
import { OPPORTUNITIES_TABLE } from "./schema";
import { readHead } from "./event-reads";
import { ALL_STREAMS, foldStreamRange, splitStreams, type RangeFold } from "./stream-range-fold";

/**
 * Folds every event into one state per stream. Over a large store the streams are shared out among threads
 * (range-threads.ts), each reading its range on a connection of its own; only when `sharedSnapshot` says the
 * other connections see what this one sees (no uncommitted writes of its own, no commit possible meanwhile).
 */
function foldEveryStream(db: Database, options: RangeThreadOptions, sharedSnapshot: boolean): RangeFold & { threads: number } {
  const through = readHead(db)?.position ?? 0;
  const threads = sharedSnapshot ? rangeThreadCount(db, through, options) : 1;
  if (threads === 1) return { ...foldStreamRange(db, ALL_STREAMS, through), threads };
  const here = (range: typeof ALL_STREAMS) => foldStreamRange(db, range, through);
  const shared = shareRanges<RangeFold>("fold", db.filename, splitStreams(db, threads, through), through, { here, hereFirst: true });
  const folds = shared.results;
  return { states: folds.flatMap((fold) => fold.states), events: folds.reduce((sum, fold) => sum + fold.events, 0), threads: shared.threads };
}

/** What a rebuild did: the opportunities written, the events folded, and the threads that folded them. */
export interface RebuildResult {
  opportunities: number;
  events: number;
  threads: number;
}

/**
 * Recreates the opportunities table from the events alone, in one transaction: readers keep seeing the old
 * table until the new one is swapped in at commit. A rebuild inside a caller's transaction (restore's, whose
 * events are not committed yet) folds on this connection alone, as only it sees them.
 */
export function rebuildOpportunities(db: Database, options: RangeThreadOptions = {}): RebuildResult {
  const staging = `${OPPORTUNITIES_TABLE}_rebuild`;
  const sharedSnapshot = !db.inTransaction;
  return db
    .transaction(() => {
      // BEGIN IMMEDIATE holds the write lock before anything is written: no commit can come between this
      // connection's snapshot and the fold threads' own.
      const { states, events, threads } = foldEveryStream(db, options, sharedSnapshot);
      db.run(`DROP TABLE IF EXISTS ${staging}`);
      const table = new OpportunitiesTable(db, staging);
      for (const state of states) table.insert(state);
      table.finalize();
      db.run(`DROP TABLE IF EXISTS ${OPPORTUNITIES_TABLE}`);
      db.run(`ALTER TABLE ${staging} RENAME TO ${OPPORTUNITIES_TABLE}`);
      return { opportunities: states.length, events, threads };
    })
    .immediate();
}
