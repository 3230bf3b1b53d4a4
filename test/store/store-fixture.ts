/**
 * Shared helpers of the store tests: real SQLite files in temp directories, a stepping clock, and an
 * auditor's view of the `events` table written WITHOUT the project's own canonical-JSON or hash code, so
 * that a bug there cannot hide itself.
 */
import type { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { monotonicFactory } from "ulid";
import { appendToChain } from "../../events/append";
import { GENESIS_HASH } from "../../events/hash-chain";
import { OPPORTUNITY_FIELD_NAMES, SCHEMA_VERSIONS, type EventMetadata, type OpportunityField } from "../../events/opportunity-events";
import type { EventRow, NewEvent, StoredEvent } from "../../events/stored-event";
import { evolve, type Opportunity } from "../../projections/opportunity-state";
import type { SqliteStorage } from "../../src/storage/sqlite/storage";
import { openSqliteStorage } from "../../src/storage/sqlite/storage";
import type { BatchPlan, ProjectionChange } from "../../src/write/batch-plan";
import { parseCreateBody, parseUpdateBody, type CreateOpportunity, type UpdateOpportunity } from "../../src/commands";
import type { FieldContext } from "../../src/field-rules";
import { openServiceStore, type ServiceStore } from "../../src/service-store";
import { DEFAULT_STAGES, StageDictionary } from "../../src/stage-dictionary";
import { makeTempDir } from "../support/temp-dir";

export const GENESIS = "0".repeat(64);
export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
export const UTC_MILLIS_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export const FIELD_CONTEXT: FieldContext = { stages: new StageDictionary(DEFAULT_STAGES), timeZone: "Asia/Shanghai" };
export const META: EventMetadata = { actor: "oms", requestId: "req-1" };

/** A clock that moves by a fixed odd step on every call, so that recorded_at always has non-zero milliseconds. */
export class SteppingClock {
  private calls = 0;
  constructor(
    private readonly startMs = Date.UTC(2026, 0, 2, 3, 4, 5, 6),
    private readonly stepMs = 1_001,
  ) {}
  /** The time the next call of `now` will return. */
  peek(): string {
    return new Date(this.startMs + this.calls * this.stepMs).toISOString();
  }
  readonly now = (): Date => new Date(this.startMs + this.calls++ * this.stepMs);
}

/**
 * Tracks every database and temp dir a test opens; `disposeAll` (called from afterEach) closes and removes
 * them, even when the test failed half-way.
 */
export class Resources {
  private readonly disposers: (() => void)[] = [];

  tempDir(): string {
    const dir = makeTempDir("store-test-");
    this.disposers.push(dir.cleanup);
    return dir.path;
  }

  /** The service's store (projection and writer wired) on a new file, or on `path` when given. */
  service(options: { path?: string; now?: () => Date } = {}): ServiceStore & { path: string } {
    const path = options.path ?? join(this.tempDir(), "opportunities.db");
    const service = openServiceStore(path, { now: options.now });
    let closed = false;
    const close = () => {
      if (closed) return { checkpointed: true };
      closed = true;
      return service.close();
    };
    // Closed before the temp dir is removed: disposers run in reverse order.
    this.disposers.push(close);
    return { ...service, close, path };
  }

  /** The SQLite storage alone (no writer) on a new file, or on `path` when given. */
  bareStore(options: { path?: string } = {}): { db: Database; storage: SqliteStorage; path: string } {
    const path = options.path ?? join(this.tempDir(), "events.db");
    const storage = openSqliteStorage(path);
    this.disposers.push(() => storage.closeNow());
    return { db: storage.db, storage, path };
  }

  /** Registers any other cleanup. */
  onDispose(dispose: () => void): void {
    this.disposers.push(dispose);
  }

  disposeAll(): void {
    const errors: unknown[] = [];
    while (this.disposers.length > 0) {
      try {
        this.disposers.pop()!();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

/** Every row of the events table exactly as stored, in position order. */
export function eventRows(db: Database): EventRow[] {
  return db.prepare<EventRow, []>("SELECT * FROM events ORDER BY position").all();
}

export function eventCount(db: Database): number {
  return db.prepare<{ n: number }, []>("SELECT COUNT(*) AS n FROM events").get()!.n;
}

/** Every projection row, integers exact (bigint), in id order. */
export function opportunityRows(db: Database): Record<string, unknown>[] {
  return db.prepare<Record<string, unknown>, []>("SELECT * FROM opportunities ORDER BY id").safeIntegers(true).all();
}

// ---- raw appends, below the decisions

/** Thrown by appendEvents when a stream's version is not the one expected. */
export class ConcurrencyError extends Error {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(`stream ${streamId} is at version ${actualVersion}, expected ${expectedVersion}`);
    this.name = "ConcurrencyError";
  }
}

/** Events to append to one stream, which must be at `expectedVersion`. */
export interface StreamAppend {
  streamId: string;
  expectedVersion: number;
  events: readonly NewEvent[];
}

const schemaVersionOf = (type: string) => SCHEMA_VERSIONS[type as keyof typeof SCHEMA_VERSIONS] ?? 1;
const nextTestEventId = monotonicFactory();

/**
 * Appends events as they are given, bypassing `decide`, in one transaction of the storage's commitBatch: the
 * plan is built here (positions, hashes, projection rows) and written the way every batch is. A stream not at
 * its expected version throws ConcurrencyError inside the transaction, so nothing of the call is written.
 * Events of one call share `now` as recorded_at.
 */
export function appendEvents(storage: SqliteStorage, appends: readonly StreamAppend[], metadata: EventMetadata = META, now: Date = new Date()): StoredEvent[] {
  const codes = [...new Set(appends.map((append) => append.streamId))];
  const needs = { codes, claims: [], clients: [], keysCutoff: now.toISOString() };
  return storage.commitBatchNow(needs, (snapshot) => {
    const states = new Map(snapshot.states);
    const changes = new Map<string, ProjectionChange>();
    const plan: BatchPlan = { outcomes: [], rows: [], events: [], projections: [], keys: [], head: snapshot.head ?? { position: 0, hash: GENESIS_HASH } };
    for (const { streamId, expectedVersion, events } of appends) {
      const before = states.get(streamId) ?? null;
      const actual = before?.version ?? 0;
      if (actual !== expectedVersion) throw new ConcurrencyError(streamId, expectedVersion, actual);
      const chained = appendToChain(plan.head, streamId, actual, events, metadata, now.toISOString(), { nextEventId: nextTestEventId, schemaVersionOf });
      let state: Opportunity | null = before;
      for (const event of chained.events) state = evolve(state, event);
      plan.rows.push(...chained.rows);
      plan.events.push(...chained.events);
      plan.head = { position: chained.rows.at(-1)!.position, hash: chained.rows.at(-1)!.hash };
      states.set(streamId, state);
      if (state === null) continue;
      const change = changes.get(streamId) ?? { state, created: before === null, changedFields: new Set<OpportunityField>() };
      change.state = state;
      for (const event of events) {
        const changed = (event.data as { changes?: Record<string, unknown> }).changes ?? {};
        for (const field of OPPORTUNITY_FIELD_NAMES) if (field in changed) change.changedFields.add(field);
      }
      changes.set(streamId, change);
    }
    plan.projections = [...changes.values()];
    return plan;
  }).plan.events;
}

// ---- an auditor's canonical JSON and hash, independent of events/canonical-json.ts and events/hash-chain.ts

const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;
const isRawJSON = (JSON as unknown as { isRawJSON(value: unknown): boolean }).isRawJSON;

function sortedStringify(value: unknown): string {
  if (value === null || typeof value !== "object" || isRawJSON(value)) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(sortedStringify).join(",")}]`;
  const record = value as Record<string, unknown>;
  return `{${Object.keys(record)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${sortedStringify(record[key])}`)
    .join(",")}}`;
}

/**
 * The canonical form of a JSON text: keys sorted, no whitespace, integers kept digit for digit (even beyond
 * 2^53), other numbers in JavaScript's shortest form. A stored text is canonical iff it equals this.
 */
export function recanonicalize(text: string): string {
  const parsed = JSON.parse(text, (_key, value, context?: { source?: string }) =>
    typeof value === "number" && context?.source !== undefined && /^-?(0|[1-9]\d*)$/.test(context.source) ? rawJSON(context.source) : value,
  );
  return sortedStringify(parsed);
}

/** sha256(prev_hash + "\n" + canonical JSON of the other columns), with node:crypto and hand-sorted keys. */
export function auditorHash(row: EventRow): string {
  const columns: Record<string, string | number> = {
    position: row.position,
    event_id: row.event_id,
    stream_id: row.stream_id,
    version: row.version,
    type: row.type,
    schema_version: row.schema_version,
    data: row.data,
    metadata: row.metadata,
    recorded_at: row.recorded_at,
  };
  const body = Object.keys(columns)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${JSON.stringify(columns[key])}`)
    .join(",");
  return createHash("sha256").update(`${row.prev_hash}\n{${body}}`, "utf8").digest("hex");
}

/** The problems an auditor finds in the chain; empty when every link and every hash holds. */
export function chainProblems(rows: readonly EventRow[]): string[] {
  const problems: string[] = [];
  let expectedPrev = GENESIS;
  rows.forEach((row, index) => {
    if (row.position !== index + 1) problems.push(`row ${index}: position ${row.position}, expected ${index + 1}`);
    if (row.prev_hash !== expectedPrev) problems.push(`position ${row.position}: prev_hash does not link`);
    if (auditorHash(row) !== row.hash) problems.push(`position ${row.position}: hash does not recompute`);
    expectedPrev = row.hash;
  });
  return problems;
}

// ---- commands built the way the HTTP layer builds them

export function createCommand(body: Record<string, unknown>): CreateOpportunity {
  const parsed = parseCreateBody(body, FIELD_CONTEXT);
  if (!parsed.ok) throw new Error(`test body is not a valid create: ${parsed.errors.join("; ")}`);
  return parsed.command;
}

export function updateCommand(body: Record<string, unknown>): UpdateOpportunity {
  const parsed = parseUpdateBody(body, FIELD_CONTEXT);
  if (!parsed.ok) throw new Error(`test body is not a valid update: ${parsed.errors.join("; ")}`);
  return parsed.command;
}

/** A minimal valid create body. */
export function createBody(code: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { opportunityCode: code, opportunityName: `Name of ${code}`, endCustomerName: `Customer of ${code}`, ...extra };
}
