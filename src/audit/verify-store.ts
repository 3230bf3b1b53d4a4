import type { Database } from "bun:sqlite";
import { canonicalJson } from "../../events/canonical-json";
import { eventDataProblem } from "../../events/event-data-check";
import { parseExactJson } from "../../events/exact-json";
import { OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED, type OpportunityField, type OpportunityUpdatedData } from "../../events/opportunity-events";
import type { EventRow } from "../../events/stored-event";
import { ChainWalker, type ChainProblem, type Head } from "../../events/verify-chain";
import { OpportunitiesTable } from "../../projections/opportunities-table";
import { evolve, type Opportunity } from "../../projections/opportunity-state";

export interface VerifyReport {
  ok: boolean;
  /** Events checked and found sound (all of them when ok). */
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
    for (const [field, value] of Object.entries(previous)) {
      const folded = state[field as OpportunityField];
      if (!same(folded, value)) return `previous ${field} of ${row.stream_id} is ${canonicalJson(value)}, but the folded value was ${canonicalJson(folded ?? null)}`;
    }
  }
  return null;
}

/**
 * Checks a store event by event, in position order, keeping only one state per opportunity: the hash chain
 * (gaps, links, recomputed hashes), each event's data against its schema, and each event against the state
 * its stream had before it (versions, creation, `previous` values). `verify` runs it over the database;
 * `restore` runs it over an export as it loads, so a bad line is named before anything is kept.
 */
export class StoreAuditor {
  private readonly walker = new ChainWalker();
  readonly states = new Map<string, Opportunity>();
  /** Events found sound so far. */
  checked = 0;

  checkRow(row: EventRow): ChainProblem | null {
    const chain = this.walker.check(row);
    if (chain) return chain;
    let data: unknown;
    try {
      data = parseExactJson(row.data);
      JSON.parse(row.metadata);
    } catch {
      return { position: row.position, reason: "data or metadata is not valid JSON" };
    }
    const shape = eventDataProblem(row.type, row.stream_id, data);
    if (shape) return { position: row.position, reason: shape };
    const before = this.states.get(row.stream_id) ?? null;
    const mismatch = checkAgainstState(row, data, before);
    if (mismatch) return { position: row.position, reason: mismatch };
    const after = evolve(before, { type: row.type, data, version: row.version, recordedAt: row.recorded_at });
    if (after) this.states.set(row.stream_id, after);
    this.checked += 1;
    return null;
  }

  get head(): Head | null {
    return this.walker.head;
  }

  /** The projection table must equal the fold of every event checked. */
  checkProjection(table: OpportunitiesTable): ChainProblem | null {
    const seen = new Set<string>();
    for (const row of table.list()) {
      seen.add(row.opportunityCode);
      const folded = this.states.get(row.opportunityCode);
      if (!folded) return { position: 0, reason: `projection has ${row.opportunityCode}, which no event creates` };
      if (!same(row, folded)) {
        const fields = (Object.keys(folded) as (keyof Opportunity)[]).filter((key) => !same(row[key], folded[key]));
        return { position: 0, reason: `projection row ${row.opportunityCode} differs from the events in: ${fields.join(", ")}` };
      }
    }
    for (const code of this.states.keys()) {
      if (!seen.has(code)) return { position: 0, reason: `projection is missing ${code}` };
    }
    return null;
  }
}

/**
 * Everything an auditor asks of the store, in one pass from position 1 (see StoreAuditor), then the
 * projection table against a fresh fold. With `expectHead`, the chain must still contain that position with
 * that hash, so a removed tail shows.
 */
export function verifyStore(db: Database, options: { expectHead?: Head } = {}): VerifyReport {
  const auditor = new StoreAuditor();
  const report = (problem: ChainProblem | null): VerifyReport => ({
    ok: problem === null,
    events: auditor.checked,
    opportunities: auditor.states.size,
    head: auditor.head,
    problem,
  });
  const expected = options.expectHead;

  for (const row of db.query<EventRow, []>("SELECT * FROM events ORDER BY position").iterate()) {
    const problem = auditor.checkRow(row);
    if (problem) return report(problem);
    if (expected && row.position === expected.position && row.hash !== expected.hash) {
      return report({ position: row.position, reason: `hash differs from the expected head ${expected.hash}` });
    }
  }
  if (expected && (auditor.head?.position ?? 0) < expected.position) {
    const end = auditor.head?.position ?? 0;
    return report({
      position: end + 1,
      reason: `the chain ends at position ${end}, before the expected head ${expected.position}: events were removed from the end`,
    });
  }
  const table = new OpportunitiesTable(db);
  try {
    return report(auditor.checkProjection(table));
  } finally {
    table.finalize();
  }
}
