import type { Database } from "bun:sqlite";
import { canonicalJson } from "../../events/canonical-json";
import { parseExactJson } from "../../events/exact-json";
import { OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED, type OpportunityUpdatedData, type OpportunityField } from "../../events/opportunity-events";
import type { EventRow } from "../../events/stored-event";
import { ChainWalker, type ChainProblem, type Head } from "../../events/verify-chain";
import { OpportunitiesTable } from "../../projections/opportunities-table";
import { evolve, type Opportunity } from "../../projections/opportunity-state";

export interface VerifyReport {
  ok: boolean;
  events: number;
  opportunities: number;
  head: Head | null;
  problem: ChainProblem | null;
}

const same = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);

/** Checks one event against the state its stream had before it: the facts must follow from each other. */
function checkAgainstState(row: EventRow, data: unknown, state: Opportunity | null): string | null {
  const expectedVersion = (state?.version ?? 0) + 1;
  if (row.version !== expectedVersion) return `version ${row.version} of ${row.stream_id} should be ${expectedVersion}`;
  if (row.type === OPPORTUNITY_CREATED && state !== null) return `${row.stream_id} is created a second time`;
  if (row.type === OPPORTUNITY_UPDATED) {
    if (state === null) return `${row.stream_id} is updated before it was created`;
    const { previous } = data as OpportunityUpdatedData;
    for (const [field, value] of Object.entries(previous ?? {})) {
      if (!same(state[field as OpportunityField], value)) {
        return `previous ${field} of ${row.stream_id} is ${canonicalJson(value)}, but the folded value was ${canonicalJson(state[field as OpportunityField])}`;
      }
    }
  }
  return null;
}

/**
 * Everything an auditor asks of the store, in one pass from position 1: the hash chain holds, each update's
 * `previous` values are what the history before it says, and the projection table equals a fresh fold.
 * With `expectHead`, the chain must still contain that position with that hash, so a removed tail shows.
 */
export function verifyStore(db: Database, options: { expectHead?: Head } = {}): VerifyReport {
  const walker = new ChainWalker();
  const states = new Map<string, Opportunity>();
  const report = (problem: ChainProblem | null): VerifyReport => ({
    ok: problem === null,
    events: walker.count,
    opportunities: states.size,
    head: walker.head,
    problem,
  });

  const rows = db.query<EventRow, []>("SELECT * FROM events ORDER BY position");
  for (const row of rows.iterate()) {
    const problem = walker.check(row);
    if (problem) return report(problem);
    const data = parseExactJson(row.data);
    const before = states.get(row.stream_id) ?? null;
    const mismatch = checkAgainstState(row, data, before);
    if (mismatch) return report({ position: row.position, reason: mismatch });
    const after = evolve(before, { type: row.type, data, version: row.version, recordedAt: row.recorded_at });
    if (after) states.set(row.stream_id, after);
    if (options.expectHead && row.position === options.expectHead.position && row.hash !== options.expectHead.hash) {
      return report({ position: row.position, reason: `hash differs from the expected head ${options.expectHead.hash}` });
    }
  }

  if (options.expectHead && (walker.head?.position ?? 0) < options.expectHead.position) {
    const end = walker.head?.position ?? 0;
    return report({
      position: end + 1,
      reason: `the chain ends at position ${end}, before the expected head ${options.expectHead.position}: events were removed from the end`,
    });
  }

  const table = new OpportunitiesTable(db);
  const seen = new Set<string>();
  for (const row of table.list()) {
    seen.add(row.opportunityCode);
    const folded = states.get(row.opportunityCode);
    if (!folded) return report({ position: 0, reason: `projection has ${row.opportunityCode}, which no event creates` });
    if (!same(row, folded)) {
      const fields = (Object.keys(folded) as (keyof Opportunity)[]).filter((key) => !same(row[key], folded[key]));
      return report({ position: 0, reason: `projection row ${row.opportunityCode} differs from the events in: ${fields.join(", ")}` });
    }
  }
  for (const code of states.keys()) {
    if (!seen.has(code)) return report({ position: 0, reason: `projection is missing ${code}` });
  }
  return report(null);
}
