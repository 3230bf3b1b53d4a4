import type { Database } from "bun:sqlite";
import { canonicalJson } from "../../events/canonical-json";
import { eventColumnsProblem, eventDataProblem } from "../../events/event-data-check";
import { toEventRow } from "../../events/event-row-shape";
import { parseExactJson } from "../../events/exact-json";
import { OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED, type OpportunityField, type OpportunityUpdatedData } from "../../events/opportunity-events";
import type { EventRow } from "../../events/stored-event";
import { ChainWalker, type ChainProblem, type Head, type RowChainCheck } from "../../events/verify-chain";
import { OpportunitiesTable } from "../storage/sqlite/opportunity-rows";
import { OPPORTUNITIES_TABLE } from "../storage/sqlite/schema";
import { evolveOwned, type Opportunity } from "../../projections/opportunity-state";
import { databaseFindings } from "./verify-database";
import type { AuditReads } from "../storage/port";
import { describeIdempotencyFinding, IDEMPOTENCY_TABLE, verifyIdempotencyKeys, verifyIdempotencyRows } from "./verify-idempotency";
import { atPosition, atTable, FindingList, type VerifyFinding } from "./verify-findings";
import { auditEventsInRanges, type EventsAudit } from "./verify-in-ranges";
import type { RangeThreadOptions } from "../storage/sqlite/range-threads";

/** What a verify is asked to hold the store to, and who is told how far it got. */
export interface VerifyOptions {
  /** The chain must still hold this position with this hash (a removed tail then shows). */
  expectHead?: Head;
  /** Told the position of the last event walked, every PROGRESS_STEP events and once the walk ends (a job's progress). */
  onProgress?: (position: number) => void;
}

/** How many events are walked between two progress reports. */
export const PROGRESS_STEP = 256;

export interface VerifyReport {
  ok: boolean;
  /** Events found sound before the first finding (all of them when ok). */
  events: number;
  opportunities: number;
  /** The last event of the sound part of the chain. */
  head: Head | null;
  /** The first finding (position 0 when it is not about one event), or null. */
  problem: ChainProblem | null;
  /** Every finding, in the order the checks ran. */
  findings: VerifyFinding[];
}

/** Equal as canonical JSON; a value canonical JSON cannot hold (NaN from a text in a REAL column) is unequal. */
function same(a: unknown, b: unknown): boolean {
  const x = a ?? null;
  const y = b ?? null;
  // Two strings, two booleans or two finite numbers are equal as canonical JSON exactly when they are equal:
  // the usual case of every event's previous values, without writing either out.
  if (typeof x === typeof y && (typeof x === "string" || typeof x === "boolean" || (typeof x === "number" && Number.isFinite(x)))) return x === y;
  try {
    return canonicalJson(x) === canonicalJson(y);
  } catch {
    return false;
  }
}

const show = (value: unknown) => {
  try {
    return canonicalJson(value ?? null);
  } catch {
    return String(value);
  }
};

/** Checks one event against the state its stream had before it: the facts must follow from each other. */
function checkAgainstState(row: EventRow, data: unknown, state: Opportunity | null): string | null {
  const expectedVersion = (state?.version ?? 0) + 1;
  if (row.version !== expectedVersion) return `version ${row.version} of ${row.stream_id} should be ${expectedVersion}`;
  if (row.type === OPPORTUNITY_CREATED && state !== null) return `${row.stream_id} is created a second time`;
  if (row.type === OPPORTUNITY_UPDATED) {
    if (state === null) return `${row.stream_id} is updated before it was created`;
    const { previous } = data as OpportunityUpdatedData;
    for (const field in previous) {
      if (!Object.hasOwn(previous, field)) continue;
      const value = previous[field as OpportunityField];
      const folded = state[field as OpportunityField];
      if (!same(folded, value)) return `previous ${field} of ${row.stream_id} is ${show(value)}, but the folded value was ${show(folded)}`;
    }
  }
  return null;
}

function parseJsonColumns(row: EventRow): { data: unknown; metadata: unknown } | null {
  try {
    return { data: parseExactJson(row.data), metadata: JSON.parse(row.metadata) };
  } catch {
    return null;
  }
}

/**
 * Checks a store event by event, in position order, keeping only one state per opportunity: the hash chain
 * (gaps, links, recomputed hashes), every column each reader relies on (event id, type and schema version,
 * data against its schema, metadata, recorded_at), and each event against the state its stream had before it
 * (versions, creation, `previous` values, opportunity ids). `verify` runs it over the database and goes on
 * after a bad event; `restore` runs it over an export as it loads and stops at the first.
 */
export class StoreAuditor {
  readonly states = new Map<string, Opportunity>();
  /** The stream that created each opportunity id. */
  readonly idOwners = new Map<number, string>();
  private soundHead: Head | null = null;
  private failed = false;
  /** Events found sound before the first problem. */
  checked = 0;

  /**
   * `walker` checks each row's place in the chain: by default the whole chain in position order; a check of
   * one range of streams (verify-stream-range.ts) gives each row's own hash and order within its stream.
   */
  constructor(private readonly walker: RowChainCheck = new ChainWalker()) {}

  /** The first problem of the next row, or null. */
  checkRow(row: EventRow): ChainProblem | null {
    return this.inspect(row)[0] ?? null;
  }

  /** Every problem of the next row. The row is then passed over and folded as far as it can be read. */
  inspect(row: EventRow): ChainProblem[] {
    const problems: ChainProblem[] = [];
    const note = (reason: string | null) => reason && problems.push({ position: row.position, reason });
    const chain = this.walker.check(row);
    if (chain) {
      problems.push(chain);
      this.walker.passOver(row);
    }
    const parsed = parseJsonColumns(row);
    if (!parsed) note("data or metadata is not valid JSON");
    else note(eventColumnsProblem(row, parsed.metadata));
    const shape = parsed ? eventDataProblem(row.type, row.stream_id, parsed.data) : "unreadable";
    if (parsed && shape) note(shape);
    const before = this.states.get(row.stream_id) ?? null;
    if (!shape) {
      note(checkAgainstState(row, parsed!.data, before));
      note(this.claimId(row, parsed!.data));
    }
    this.fold(row, shape ? null : parsed!.data, before);
    if (problems.length > 0) this.failed = true;
    if (!this.failed) {
      this.checked += 1;
      this.soundHead = this.walker.head;
    }
    return problems;
  }

  /** An opportunity's id belongs to one opportunity only (the projection's primary key). */
  private claimId(row: EventRow, data: unknown): string | null {
    if (row.type !== OPPORTUNITY_CREATED) return null;
    const id = (data as { id: number }).id;
    const owner = this.idOwners.get(id);
    if (owner !== undefined && owner !== row.stream_id) return `opportunity id ${id} of ${row.stream_id} is already the id of ${owner}`;
    this.idOwners.set(id, row.stream_id);
    return null;
  }

  /** Folds a readable event; an unreadable one still moves its stream's version on, so it is reported once. */
  private fold(row: EventRow, data: unknown, before: Opportunity | null): void {
    if (data === null) {
      if (before) this.states.set(row.stream_id, { ...before, version: row.version });
      return;
    }
    // The auditor owns its states (none is handed out before the walk ends): each is changed in place.
    const after = evolveOwned(before, { type: row.type, data, version: row.version, recordedAt: row.recorded_at });
    if (after) this.states.set(row.stream_id, after);
  }

  /** Passes over a row that cannot be checked at all (its columns are not of an event's types). */
  passOver(row: { position: unknown; hash: unknown }): void {
    this.failed = true;
    this.walker.passOver({ position: Number(row.position), hash: String(row.hash) });
  }

  get head(): Head | null {
    return this.soundHead;
  }

  /** The projection table must equal the fold of every event checked: every row that does not is named. */
  checkProjection(table: { list(): Opportunity[] }): ChainProblem[] {
    return projectionProblems(this.states, table);
  }
}

/** Every row of the projection table that is not the fold of the events, and every fold the table lacks. */
export function projectionProblems(states: ReadonlyMap<string, Opportunity>, table: { list(): Opportunity[] }): ChainProblem[] {
  const problems: ChainProblem[] = [];
  const seen = new Set<string>();
  for (const row of table.list()) {
    seen.add(row.opportunityCode);
    const folded = states.get(row.opportunityCode);
    if (!folded) {
      problems.push({ position: 0, reason: `projection has ${row.opportunityCode}, which no event creates` });
      continue;
    }
    const fields = (Object.keys(folded) as (keyof Opportunity)[]).filter((key) => !same(row[key], folded[key]));
    if (fields.length > 0) problems.push({ position: 0, reason: `projection row ${row.opportunityCode} differs from the events in: ${fields.join(", ")}` });
  }
  for (const code of states.keys()) {
    if (!seen.has(code)) problems.push({ position: 0, reason: `projection is missing ${code}` });
  }
  return problems;
}

/**
 * Walks every event row, in position order; a row whose columns are not even of the right types is reported and
 * passed over. Fed row by row, so each backend reads the rows its own way.
 */
class EventWalk {
  private last = 0;
  private walked = 0;

  constructor(
    private readonly auditor: StoreAuditor,
    private readonly findings: FindingList,
    private readonly expected: Head | undefined,
    private readonly onProgress: ((position: number) => void) | undefined,
  ) {}

  add(stored: Record<string, unknown>): void {
    const { auditor, findings, expected } = this;
    const row = toEventRow(stored);
    this.last = stored.position as number;
    this.walked += 1;
    if (this.onProgress && this.walked % PROGRESS_STEP === 0) this.onProgress(this.last);
    if (typeof row === "string") {
      findings.add(atPosition(this.last, `the row's columns are not an event: ${row}`));
      auditor.passOver({ position: stored.position, hash: stored.hash });
      return;
    }
    for (const problem of auditor.inspect(row)) findings.add(atPosition(problem.position, problem.reason));
    if (expected && row.position === expected.position && row.hash !== expected.hash) {
      findings.add(atPosition(row.position, `hash differs from the expected head ${expected.hash}`));
    }
  }

  finish(): void {
    const { expected, last } = this;
    this.onProgress?.(last);
    if (expected && last < expected.position) {
      this.findings.add(
        atPosition(last + 1, `the chain ends at position ${last}, before the expected head ${expected.position}: events were removed from the end`),
      );
    }
  }
}

function checkEvents(db: Database, auditor: StoreAuditor, findings: FindingList, options: VerifyOptions): void {
  const walk = new EventWalk(auditor, findings, options.expectHead, options.onProgress);
  for (const stored of db.query<Record<string, unknown>, []>("SELECT * FROM events ORDER BY position").iterate()) walk.add(stored);
  walk.finish();
}

function checkProjectionTable(db: Database, states: ReadonlyMap<string, Opportunity>, findings: FindingList): void {
  const exists = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(OPPORTUNITIES_TABLE);
  // The schema check names a missing table; creating it here would make verify write.
  if (!exists) return;
  const table = new OpportunitiesTable(db);
  try {
    for (const problem of projectionProblems(states, table)) findings.add(atTable(OPPORTUNITIES_TABLE, problem.reason));
  } finally {
    table.finalize();
  }
}

/**
 * The walk of the events: shared out among threads over ranges of streams when the store is large and no one
 * follows its progress (verify-in-ranges.ts), with the database's own checks meanwhile; in position order when
 * that is not worth it or did not hold up, which names every finding.
 */
function auditEvents(db: Database, findings: FindingList, options: VerifyOptions, threads: RangeThreadOptions): EventsAudit {
  const checkDatabase = () => findings.run("database", () => databaseFindings(db, findings));
  const shared = options.onProgress ? { audit: null, alongsideRan: false } : auditEventsInRanges(db, options.expectHead, threads, checkDatabase);
  if (!shared.alongsideRan) checkDatabase();
  if (shared.audit) return shared.audit;
  const auditor = new StoreAuditor();
  findings.run("table events", () => checkEvents(db, auditor, findings, options));
  return auditor;
}

/**
 * Everything an auditor asks of the store: the database file's own integrity and schema (the append-only
 * triggers among it), then one pass over the events from position 1 (see StoreAuditor), then the projection
 * table against a fresh fold. With `expectHead`, the chain must still contain that position with that hash, so
 * a removed tail shows. Every finding is reported; none stops the other checks.
 */
export function verifyStore(db: Database, options: VerifyOptions = {}, threads: RangeThreadOptions = {}): VerifyReport {
  const findings = new FindingList();
  const events = auditEvents(db, findings, options, threads);
  findings.run(`table ${OPPORTUNITIES_TABLE}`, () => checkProjectionTable(db, events.states, findings));
  findings.run(`table ${IDEMPOTENCY_TABLE}`, () => {
    for (const finding of verifyIdempotencyKeys(db)) findings.add(atTable(IDEMPOTENCY_TABLE, describeIdempotencyFinding(finding)));
  });
  return reportOf(findings, events);
}

function reportOf(findings: FindingList, events: EventsAudit): VerifyReport {
  const list = findings.list();
  const first = list[0];
  return {
    ok: list.length === 0,
    events: events.checked,
    opportunities: events.states.size,
    head: events.head,
    problem: first ? { position: first.position, reason: first.reason } : null,
    findings: list,
  };
}

const PAGE = 5000;

/**
 * The same audit over a database reached through the storage port (PostgreSQL), inside the one snapshot that
 * `reads` belongs to: the database's own structure, one pass over the events from position 1, the projection
 * against the fold, every stored idempotency answer against the events. Same findings, same report.
 */
export async function verifyAuditReads(reads: AuditReads, options: VerifyOptions = {}): Promise<VerifyReport> {
  const findings = new FindingList();
  const auditor = new StoreAuditor();
  await findings.runAsync("schema", async () => {
    for (const finding of await reads.structuralFindings()) findings.add({ position: 0, ...finding });
  });
  await findings.runAsync("table events", async () => {
    const walk = new EventWalk(auditor, findings, options.expectHead, options.onProgress);
    for (let after = 0; ; ) {
      const rows = await reads.rawEventRowsAfter(after, PAGE);
      for (const row of rows) walk.add(row);
      if (rows.length < PAGE) break;
      after = Number(rows[rows.length - 1]!.position);
    }
    walk.finish();
  });
  await findings.runAsync(`table ${OPPORTUNITIES_TABLE}`, async () => {
    const rows = await reads.listOpportunities();
    if (rows) for (const problem of auditor.checkProjection({ list: () => rows })) findings.add(atTable(OPPORTUNITIES_TABLE, problem.reason));
  });
  await findings.runAsync(`table ${IDEMPOTENCY_TABLE}`, async () => {
    for (const finding of await verifyIdempotencyRows(reads)) findings.add(atTable(IDEMPOTENCY_TABLE, describeIdempotencyFinding(finding)));
  });
  return reportOf(findings, auditor);
}
