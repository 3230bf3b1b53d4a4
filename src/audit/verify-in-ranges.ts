import type { Database } from "bun:sqlite";
import { GENESIS_HASH } from "../../events/hash-chain";
import type { Head } from "../../events/verify-chain";
import type { Opportunity } from "../../projections/opportunity-state";
import { rangeThreadCount, shareRanges, type RangeThreadOptions } from "../storage/sqlite/range-threads";
import { readHead } from "../storage/sqlite/event-reads";
import { splitStreams } from "../storage/sqlite/stream-range-fold";
import { checkStreamRange, type RangeCheck } from "./verify-stream-range";

/** What verify's walk of the events found, as the projection check and the report need it. */
export interface EventsAudit {
  checked: number;
  states: ReadonlyMap<string, Opportunity>;
  head: Head | null;
}

/**
 * The checks that span ranges of streams, made in SQL over the positions through `through`: they run from 1
 * without a gap (positions are the table's key, so a count equal to the last one is that), every prev_hash is
 * the hash before it (64 zeros first), and the expected head is there.
 */
function chainLinksHold(db: Database, through: number, expectHead: Head | undefined): boolean {
  const span = db.query<{ n: number; first: number | null }, [number]>("SELECT count(*) AS n, min(position) AS first FROM events WHERE position <= ?").get(through);
  if (span?.n !== through || span.first !== 1) return false;
  const hashAt = db.query<{ prev_hash: unknown; hash: unknown }, [number]>("SELECT prev_hash, hash FROM events WHERE position = ?");
  if (hashAt.get(1)?.prev_hash !== GENESIS_HASH) return false;
  if (expectHead && (expectHead.position > through || hashAt.get(expectHead.position)?.hash !== expectHead.hash)) return false;
  const broken = db
    .query<{ n: number }, [number]>("SELECT count(*) AS n FROM events AS e JOIN events AS p ON p.position = e.position - 1 WHERE e.position <= ? AND e.prev_hash IS NOT p.hash")
    .get(through);
  return broken?.n === 0;
}

/**
 * The ranges' results as one walk's: null when an opportunity id was created in two ranges, or when the ranges
 * (read through the (stream_id, version) index) did not meet every event through the head (read by position,
 * the table itself): a damaged index must not hide an event from the walk.
 */
function joined(checks: RangeCheck[], head: Head): EventsAudit | null {
  const checked = checks.reduce((sum, check) => sum + check.events, 0);
  if (checked !== head.position) return null;
  const owners = new Map<number, string>();
  const states = new Map<string, Opportunity>();
  for (const check of checks) {
    for (const [id, stream] of check.ids) {
      if (owners.has(id)) return null;
      owners.set(id, stream);
    }
    for (const state of check.states) states.set(state.opportunityCode, state);
  }
  return { checked, states, head };
}

/**
 * verify's walk of the events, shared out among threads over ranges of streams (range-threads.ts), with
 * `alongside` (the database's own checks) run on this thread meanwhile. Answers the walk when every check held
 * (a sound store, the usual case); `alongsideRan` then says `alongside` has run. Otherwise, or when the store is
 * too small for threads to pay, answers null: the caller walks in position order, which names each finding.
 * The other threads read through their own connections, bounded by the last position this one sees: the events
 * are append-only, so they read the same rows even while a service appends.
 */
export function auditEventsInRanges(
  db: Database,
  expectHead: Head | undefined,
  options: RangeThreadOptions,
  alongside: () => void,
): { audit: EventsAudit | null; alongsideRan: boolean } {
  let alongsideRan = false;
  try {
    const head = readHead(db);
    const through = head?.position ?? 0;
    const threads = rangeThreadCount(db, through, options);
    if (threads < 2) return { audit: null, alongsideRan };
    let linksHold = false;
    const { results: checks } = shareRanges<RangeCheck>("check", db.filename, splitStreams(db, threads, through), through, {
      here: (range) => checkStreamRange(db, range, through),
      hereFirst: false,
      inline: options.inline,
      alongside: () => {
        alongsideRan = true;
        alongside();
        linksHold = chainLinksHold(db, through, expectHead);
      },
    });
    if (!linksHold || checks.some((check) => !check.sound)) return { audit: null, alongsideRan };
    return { audit: joined(checks, head!), alongsideRan };
  } catch {
    // A table that cannot be read, a thread that failed on a page: the walk in position order meets the same
    // and names it as a finding.
    return { audit: null, alongsideRan };
  }
}
