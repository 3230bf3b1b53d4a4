import { monotonicFactory } from "ulid";
import { appendToChain } from "../../events/append";
import { GENESIS_HASH } from "../../events/hash-chain";
import { SCHEMA_VERSIONS, type EventMetadata, type OpportunityField, OPPORTUNITY_FIELD_NAMES } from "../../events/opportunity-events";
import type { EventRow, StoredEvent } from "../../events/stored-event";
import { evolve, type Opportunity } from "../../projections/opportunity-state";
import type { OpportunityCommand } from "../commands";
import { decide, type Decision } from "../decide";
import type { IdempotencyClaim, KeyRefusal, KeyRetention, OutcomeProof } from "../idempotency";
import { codesOfBatch, decideItems, storedBatchOutcome, withoutEvents, type BatchAnswer, type BatchUpdateRequest, type BatchUpdateResult } from "./batch-update";

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
export type WriteResult = (Decision | KeyRefusal) & {
  appended?: number;
  replayed?: boolean;
};

/** What the group-commit queue commits as one unit: one write, or a batch update with all its items. */
export type WriteUnit = WriteRequest | BatchUpdateRequest;
/** The result of a unit: a WriteResult for a write, a BatchUpdateResult for a batch update. */
export type UnitResult = WriteResult | BatchUpdateResult;

export const isBatchUpdate = (unit: WriteUnit): unit is BatchUpdateRequest => "batch" in unit;
/** The codes a unit decides. */
const codesOfUnit = (unit: WriteUnit): string[] => (isBatchUpdate(unit) ? codesOfBatch(unit.batch) : [unit.command.opportunityCode]);

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
  /** Per unit, in order: its result, or the unexpected error deciding it raised (it then wrote nothing). */
  outcomes: ({ result: UnitResult } | { error: unknown })[];
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

/** What `planBatch` needs read for these units. */
export function needsOf(requests: readonly WriteUnit[], now: Date, retention: KeyRetention): SnapshotNeeds {
  const claims = requests.flatMap((request) => (request.idempotency ? [request.idempotency] : []));
  return {
    codes: [...new Set(requests.flatMap(codesOfUnit))],
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
   * What one unit may change, before it runs: a unit that fails unexpectedly (or a batch update that fails with
   * allOrNone) is taken back whole. Only its own codes and client are saved (a unit touches no other), so
   * planning stays linear in the batch.
   */
  mark(codes: readonly string[], client: string | undefined) {
    return {
      streams: codes.map((code) => {
        const change = this.changes.get(code);
        return { code, state: this.states.get(code), change: change && { ...change, changedFields: new Set(change.changedFields) } };
      }),
      client,
      rows: this.rows.length,
      keys: this.keys.length,
      position: this.position,
      hash: this.hash,
      maxId: this.maxId,
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
    for (const stream of mark.streams) {
      restore(this.states, stream.code, stream.state);
      restore(this.changes, stream.code, stream.change);
    }
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

/**
 * What a claim whose key is stored or over the cap gets instead of a decision: the key refused, or the stored
 * outcome to replay; null to go on and decide.
 */
function keyAnswer(plan: PlanState, snapshot: BatchSnapshot, claim: IdempotencyClaim, retention: KeyRetention): { refused: KeyRefusal } | { stored: unknown } | null {
  const earlier = snapshot.keys.get(keySlot(claim)) ?? null;
  if (earlier) {
    if (earlier.fingerprint !== claim.fingerprint) return { refused: { ok: false, reason: "idempotency_mismatch", message: MESSAGES.idempotencyMismatch } };
    return { stored: earlier.outcome };
  }
  // A new key beyond the cap: refused before anything is decided, so nothing is stored or appended.
  if ((plan.keysHeld.get(claim.client) ?? 0) >= retention.maxKeysPerClient) return { refused: { ok: false, reason: "idempotency_limit", message: retention.limitMessage() } };
  return null;
}

/** A single write's replay: the stored decision, without events (nothing is appended again). */
function replayOf(stored: unknown): WriteResult {
  const outcome = stored as Decision;
  return outcome.ok ? { ...outcome, events: [], replayed: true } : { ...outcome, replayed: true };
}

/** The batch's one instant: every event's recorded_at, and when its keys were first used (and so their bucket). */
interface BatchClock {
  recordedAt: string;
  bucketEnd: string;
}

/** Decides one command against the state the plan holds and appends its events with `metadata`. */
function decideAndAppend(plan: PlanState, command: OpportunityCommand, metadata: EventMetadata, context: Required<PlanContext>, clock: BatchClock): { decision: Decision; appended: number } {
  const code = command.opportunityCode;
  if (!plan.states.has(code)) throw new Error(`the snapshot holds no state for ${code}`);
  const state = plan.states.get(code) ?? null;
  const decision = decide(command, state, { nextId: state ? state.id : plan.maxId + 1 });
  const appended = decision.ok && decision.events.length > 0 ? appendEvents(plan, code, decision, metadata, clock.recordedAt, context.nextEventId) : [];
  if (decision.ok && state === null && appended.length > 0) plan.maxId = Math.max(plan.maxId, decision.id);
  return { decision, appended: appended.length };
}

/**
 * Stores a key with its request's outcome, not the events: a replay answers the same without appending
 * anything. The proof says where it was reached, so that verify can hold every stored answer against the events.
 */
function saveKey(plan: PlanState, claim: IdempotencyClaim, outcome: string, proof: OutcomeProof, clock: BatchClock): void {
  plan.keys.push({ claim, outcome, proof, createdAt: clock.recordedAt, bucketEnd: clock.bucketEnd });
  plan.keysHeld.set(claim.client, (plan.keysHeld.get(claim.client) ?? 0) + 1);
}

const withKey = (metadata: EventMetadata, claim: IdempotencyClaim | undefined): EventMetadata => (claim ? { ...metadata, idempotencyKey: claim.key } : metadata);

function planOne(plan: PlanState, snapshot: BatchSnapshot, request: WriteRequest, context: Required<PlanContext>, clock: BatchClock): WriteResult {
  const { command, idempotency } = request;
  const answer = idempotency && keyAnswer(plan, snapshot, idempotency, context.retention);
  if (answer) return "refused" in answer ? answer.refused : replayOf(answer.stored);
  const positionBefore = plan.position;
  const { decision, appended } = decideAndAppend(plan, command, withKey(request.metadata, idempotency), context, clock);
  if (idempotency) {
    const outcome: Record<string, unknown> = { ...decision };
    delete outcome.events;
    saveKey(plan, idempotency, JSON.stringify(outcome), { streamId: command.opportunityCode, position: positionBefore, appended }, clock);
  }
  return appended > 0 ? { ...decision, appended } : decision;
}

/**
 * A batch update: its items decided in order, each real change an event of its own whose metadata names the
 * item (batchIndex), all under the one key, if any, whose stored outcome is the whole answer. With allOrNone
 * and a failed item, every event of the batch is taken back before anything else is planned.
 */
function planBatchUpdate(plan: PlanState, snapshot: BatchSnapshot, unit: BatchUpdateRequest, context: Required<PlanContext>, clock: BatchClock): BatchUpdateResult {
  const { idempotency } = unit;
  const answer = idempotency && keyAnswer(plan, snapshot, idempotency, context.retention);
  if (answer) return "refused" in answer ? answer.refused : { ok: true, batch: withoutEvents((answer.stored as { batch: BatchAnswer }).batch), replayed: true };
  const before = plan.mark(codesOfBatch(unit.batch), undefined);
  const metadata = withKey(unit.metadata, idempotency);
  const batch = decideItems(unit.batch, (command, batchIndex) => decideAndAppend(plan, command, { ...metadata, batchIndex }, context, clock));
  if (batch.failedIndex !== null) plan.rollback(before);
  const appended = plan.position - before.position;
  if (idempotency) saveKey(plan, idempotency, storedBatchOutcome(batch), { streamId: null, position: before.position, appended }, clock);
  return appended > 0 ? { ok: true, batch, appended } : { ok: true, batch };
}

/**
 * Decides every unit of a batch in order against the snapshot and what the units before it did. Pure but for
 * the event ids: no I/O, and the clock comes in the context. A unit whose deciding throws (a bug) is answered
 * with that error and leaves nothing in the plan; the others go on.
 */
export function planBatch(requests: readonly WriteUnit[], snapshot: BatchSnapshot, context: PlanContext): BatchPlan {
  const full: Required<PlanContext> = { nextEventId: monotonicUlid, ...context };
  // Once per batch, not per request: the same instant for all of it.
  const clock: BatchClock = { recordedAt: context.now.toISOString(), bucketEnd: context.retention.bucketEnd(context.now) };
  const plan = new PlanState(snapshot);
  const outcomes: BatchPlan["outcomes"] = [];
  for (const request of requests) {
    const mark = plan.mark(codesOfUnit(request), request.idempotency?.client);
    try {
      const result = isBatchUpdate(request) ? planBatchUpdate(plan, snapshot, request, full, clock) : planOne(plan, snapshot, request, full, clock);
      outcomes.push({ result });
    } catch (error) {
      plan.rollback(mark);
      outcomes.push({ error });
    }
  }
  return { outcomes, rows: plan.rows, events: plan.events, projections: [...plan.changes.values()], keys: plan.keys, head: { position: plan.position, hash: plan.hash } };
}
