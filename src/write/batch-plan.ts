import { monotonicFactory } from "ulid";
import { appendToChain } from "../../events/append";
import { GENESIS_HASH } from "../../events/hash-chain";
import { SCHEMA_VERSIONS, type EventMetadata, type OpportunityField, OPPORTUNITY_FIELD_NAMES } from "../../events/opportunity-events";
import type { EventRow, StoredEvent } from "../../events/stored-event";
import { evolve, type Opportunity } from "../../projections/opportunity-state";
import type { OpportunityCommand } from "../commands";
import { decide, type Decision } from "../decide";
import type { IdempotencyClaim, KeyRetention, OutcomeProof } from "../idempotency";

/**
 * A batch of writes decided in memory, against state read once under the write lock. Both storage backends
 * commit a batch the same way: take the lock, read what the batch needs (`needsOf`), let `planBatch` decide
 * every request in order, write the plan, commit. Deciding here, not statement by statement inside the
 * transaction, keeps the decisions in one place for both backends and keeps client round trips out of the time
 * the lock is held (PostgreSQL); each request is still decided against the state the ones before it left.
 */

/** One write as the HTTP layer (or import) hands it over. */
export interface WriteRequest {
  command: OpportunityCommand;
  metadata: EventMetadata;
  idempotency?: IdempotencyClaim;
}

/** A decision as the writer reports it, or a refusal of the idempotency key itself. */
export type WriteResult = (Decision | { ok: false; reason: "idempotency_mismatch" | "in_flight" | "idempotency_limit"; message: string; version?: undefined }) & {
  appended?: number;
  replayed?: boolean;
};

export const MESSAGES = {
  idempotencyMismatch: "Idempotency-Key 已用于另一个内容不同的请求，本次未做任何修改",
  inFlight: "相同 Idempotency-Key 的请求正在处理中，请稍后重试",
} as const;

/** An idempotency key as stored: the request it was first used for, and that request's answer. */
export interface StoredKey {
  fingerprint: string;
  outcome: unknown;
}

/** An idempotency key's place among stored keys and writes in flight. */
export const keySlot = (claim: IdempotencyClaim) => `${claim.client}\n${claim.key}`;

/** What a batch must read under the lock before it can be decided. */
export interface SnapshotNeeds {
  codes: string[];
  claims: IdempotencyClaim[];
  /** Clients whose unexpired keys must be counted (those sending a key). */
  clients: string[];
  /** Keys first used before this ISO instant have expired and do not count. */
  keysCutoff: string;
}

/** The state a batch is decided against, read inside its transaction, after the lock was taken. */
export interface BatchSnapshot {
  head: { position: number; hash: string } | null;
  /** The largest opportunity id given so far (0 when none). */
  maxId: number;
  /** Every code of the batch: its current state, or null when there is no such opportunity. */
  states: ReadonlyMap<string, Opportunity | null>;
  /** Every claim of the batch, by keySlot: the stored key, or null. */
  keys: ReadonlyMap<string, StoredKey | null>;
  /** Unexpired keys held, per client of `needs.clients`. */
  keysHeld: ReadonlyMap<string, number>;
}

/** One opportunity the batch changed: its state after the batch, and which of its columns changed. */
export interface ProjectionChange {
  state: Opportunity;
  /** True when the batch created it: insert the row, else update it. */
  created: boolean;
  /** The fields set by the batch's updates (the row's version and updated_at change too). */
  changedFields: Set<OpportunityField>;
}

/** A key to store with its request's outcome and the proof of where that outcome was reached. */
export interface KeySave {
  claim: IdempotencyClaim;
  /** The decision without its events, as JSON text. */
  outcome: string;
  proof: OutcomeProof;
  createdAt: string;
  /** The end of the counting bucket the key falls in (KeyRetention.bucketEnd). */
  bucketEnd: string;
}

/** The plan of a batch: each request's outcome, and everything to write for it. */
export interface BatchPlan {
  /** Per request, in order: its result, or the unexpected error deciding it raised (it then wrote nothing). */
  outcomes: ({ result: WriteResult } | { error: unknown })[];
  rows: EventRow[];
  events: StoredEvent[];
  projections: ProjectionChange[];
  keys: KeySave[];
  /** The head after the batch; the one it started from when nothing is appended. */
  head: { position: number; hash: string };
}

export interface PlanContext {
  now: Date;
  retention: KeyRetention;
  /** Event ids; a monotonic ULID factory unless a test passes its own. */
  nextEventId?: () => string;
}

// One factory for the process: ulid 3 looks up its random source on every plain `ulid()` call.
const monotonicUlid = monotonicFactory();
const schemaVersionOf = (type: string) => SCHEMA_VERSIONS[type as keyof typeof SCHEMA_VERSIONS] ?? 1;

/** What `planBatch` needs read for these requests. */
export function needsOf(requests: readonly WriteRequest[], now: Date, retention: KeyRetention): SnapshotNeeds {
  const claims = requests.flatMap((request) => (request.idempotency ? [request.idempotency] : []));
  return {
    codes: [...new Set(requests.map((request) => request.command.opportunityCode))],
    claims,
    clients: [...new Set(claims.map((claim) => claim.client))],
    keysCutoff: retention.cutoff(now),
  };
}

/** The running state of a batch while it is planned: what each request sees of the ones before it. */
class PlanState {
  readonly rows: EventRow[] = [];
  readonly events: StoredEvent[] = [];
  readonly keys: KeySave[] = [];
  readonly changes = new Map<string, ProjectionChange>();
  readonly states: Map<string, Opportunity | null>;
  readonly keysHeld: Map<string, number>;
  position: number;
  hash: string;
  maxId: number;

  constructor(snapshot: BatchSnapshot) {
    this.states = new Map(snapshot.states);
    this.keysHeld = new Map(snapshot.keysHeld);
    this.position = snapshot.head?.position ?? 0;
    this.hash = snapshot.head?.hash ?? GENESIS_HASH;
    this.maxId = snapshot.maxId;
  }

  /**
   * What one request may change, before it runs: a request that fails unexpectedly is taken back whole. Only
   * its own code and client are saved (a request touches no other), so planning stays linear in the batch.
   */
  mark(code: string, client: string | undefined) {
    const change = this.changes.get(code);
    return {
      code,
      client,
      rows: this.rows.length,
      keys: this.keys.length,
      position: this.position,
      hash: this.hash,
      maxId: this.maxId,
      state: this.states.get(code),
      change: change && { ...change, changedFields: new Set(change.changedFields) },
      held: client === undefined ? undefined : this.keysHeld.get(client),
    };
  }

  rollback(mark: ReturnType<PlanState["mark"]>): void {
    this.rows.length = mark.rows;
    this.events.length = mark.rows;
    this.keys.length = mark.keys;
    this.position = mark.position;
    this.hash = mark.hash;
    this.maxId = mark.maxId;
    restore(this.states, mark.code, mark.state);
    restore(this.changes, mark.code, mark.change);
    if (mark.client !== undefined) restore(this.keysHeld, mark.client, mark.held);
  }
}

function restore<V>(map: Map<string, V>, key: string, value: V | undefined): void {
  if (value === undefined) map.delete(key);
  else map.set(key, value);
}

/** Appends a decision's events to the plan: positions, hashes, and the state each leaves behind. */
function appendEvents(plan: PlanState, code: string, decision: Extract<Decision, { ok: true }>, metadata: EventMetadata, recordedAt: string, nextEventId: () => string): StoredEvent[] {
  const before = plan.states.get(code) ?? null;
  const appended = appendToChain(plan, code, before?.version ?? 0, decision.events, metadata, recordedAt, { nextEventId, schemaVersionOf });
  let state = before;
  for (const event of appended.events) state = evolve(state, event);
  plan.rows.push(...appended.rows);
  plan.events.push(...appended.events);
  const last = appended.rows[appended.rows.length - 1]!;
  plan.position = last.position;
  plan.hash = last.hash;
  plan.states.set(code, state);
  noteProjection(plan, code, before === null, state!, decision);
  return appended.events;
}

function noteProjection(plan: PlanState, code: string, created: boolean, state: Opportunity, decision: Extract<Decision, { ok: true }>): void {
  let change = plan.changes.get(code);
  if (!change) plan.changes.set(code, (change = { state, created, changedFields: new Set<OpportunityField>() }));
  change.state = state;
  for (const event of decision.events) {
    const changes = (event.data as { changes?: Record<string, unknown> }).changes;
    if (changes) for (const field of OPPORTUNITY_FIELD_NAMES) if (field in changes) change.changedFields.add(field);
  }
}

/** The idempotency answer for a claim whose key is stored or over the cap; null to go on and decide. */
function keyAnswer(plan: PlanState, snapshot: BatchSnapshot, claim: IdempotencyClaim, retention: KeyRetention): WriteResult | null {
  const earlier = snapshot.keys.get(keySlot(claim)) ?? null;
  if (earlier) {
    if (earlier.fingerprint !== claim.fingerprint) return { ok: false, reason: "idempotency_mismatch", message: MESSAGES.idempotencyMismatch };
    const outcome = earlier.outcome as Decision;
    return outcome.ok ? { ...outcome, events: [], replayed: true } : { ...outcome, replayed: true };
  }
  // A new key beyond the cap: refused before anything is decided, so nothing is stored or appended.
  if ((plan.keysHeld.get(claim.client) ?? 0) >= retention.maxKeysPerClient) return { ok: false, reason: "idempotency_limit", message: retention.limitMessage() };
  return null;
}

/** The batch's one instant: every event's recorded_at, and when its keys were first used (and so their bucket). */
interface BatchClock {
  recordedAt: string;
  bucketEnd: string;
}

function planOne(plan: PlanState, snapshot: BatchSnapshot, request: WriteRequest, context: Required<PlanContext>, clock: BatchClock): WriteResult {
  const { command, idempotency } = request;
  if (idempotency) {
    const answer = keyAnswer(plan, snapshot, idempotency, context.retention);
    if (answer) return answer;
  }
  const code = command.opportunityCode;
  if (!plan.states.has(code)) throw new Error(`the snapshot holds no state for ${code}`);
  const state = plan.states.get(code) ?? null;
  const positionBefore = plan.position;
  const decision = decide(command, state, { nextId: state ? state.id : plan.maxId + 1 });
  const metadata = idempotency ? { ...request.metadata, idempotencyKey: idempotency.key } : request.metadata;
  const appended = decision.ok && decision.events.length > 0 ? appendEvents(plan, code, decision, metadata, clock.recordedAt, context.nextEventId) : [];
  if (decision.ok && state === null && appended.length > 0) plan.maxId = Math.max(plan.maxId, decision.id);
  if (idempotency) {
    // The outcome, not the events: a replay answers the same without appending anything. The proof says where
    // it was reached, so that verify can hold every stored answer against the events.
    const outcome: Record<string, unknown> = { ...decision };
    delete outcome.events;
    plan.keys.push({
      claim: idempotency,
      outcome: JSON.stringify(outcome),
      proof: { streamId: code, position: positionBefore, appended: appended.length },
      createdAt: clock.recordedAt,
      bucketEnd: clock.bucketEnd,
    });
    plan.keysHeld.set(idempotency.client, (plan.keysHeld.get(idempotency.client) ?? 0) + 1);
  }
  return appended.length > 0 ? { ...decision, appended: appended.length } : decision;
}

/**
 * Decides every request of a batch in order against the snapshot and what the requests before it did. Pure but
 * for the event ids: no I/O, and the clock comes in the context. A request whose deciding throws (a bug) is
 * answered with that error and leaves nothing in the plan; the others go on.
 */
export function planBatch(requests: readonly WriteRequest[], snapshot: BatchSnapshot, context: PlanContext): BatchPlan {
  const full: Required<PlanContext> = { nextEventId: monotonicUlid, ...context };
  // Once per batch, not per request: the same instant for all of it.
  const clock: BatchClock = { recordedAt: context.now.toISOString(), bucketEnd: context.retention.bucketEnd(context.now) };
  const plan = new PlanState(snapshot);
  const outcomes: BatchPlan["outcomes"] = [];
  for (const request of requests) {
    const mark = plan.mark(request.command.opportunityCode, request.idempotency?.client);
    try {
      outcomes.push({ result: planOne(plan, snapshot, request, full, clock) });
    } catch (error) {
      plan.rollback(mark);
      outcomes.push({ error });
    }
  }
  return { outcomes, rows: plan.rows, events: plan.events, projections: [...plan.changes.values()], keys: plan.keys, head: { position: plan.position, hash: plan.hash } };
}
