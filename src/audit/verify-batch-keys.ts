import { NOT_FOUND } from "../decide";

/**
 * The stored answer of a batch update's Idempotency-Key, held against the events like any other stored answer
 * (verify-idempotency.ts). Its proof names no stream (stream_id NULL): the answer names each item's. From the
 * proof's position on, the items are walked in order: an item that succeeded appended its events right there,
 * all of its own opportunity, and left it at the answered version with the answered id; a refused item appended
 * nothing and agrees with the opportunity at that point; an invalid or not-run item appended nothing. Together
 * they account for exactly the proof's `appended`, and a batch stopped by allOrNone appended nothing at all.
 */

type ItemResult = { ok: true; id: number; version: number } | { ok: false; reason: string; message: string; version?: number };

export interface StoredBatchItem {
  index: number;
  opportunityCode: string | null;
  appended: number;
  result: ItemResult;
}

export interface StoredBatch {
  allOrNone: boolean;
  failedIndex: number | null;
  items: StoredBatchItem[];
}

/** What the walk needs of the events (the facts verify-idempotency.ts reads for either backend). */
export interface BatchFacts {
  version(streamId: string, position: number): number;
  createdId(streamId: string, position: number): unknown;
  streamOf(position: number): string | undefined;
}

const isCount = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value) && value >= 0;
const isPositive = (value: unknown): value is number => isCount(value) && value > 0;
const ITEM_REFUSALS = new Set(["not_found", "conflict", "invalid", "not_run"]);
const KEYS_OF = (value: object) => Object.keys(value).sort().join(",");

function itemProblem(item: Record<string, unknown>, index: number): string | null {
  if (KEYS_OF(item) !== "appended,index,opportunityCode,result" || item.index !== index || !isCount(item.appended)) return "item";
  if (item.opportunityCode !== null && typeof item.opportunityCode !== "string") return "item";
  const result = item.result as Record<string, unknown> | null;
  if (typeof result !== "object" || result === null) return "result";
  if (result.ok === true) return KEYS_OF(result) === "id,ok,version" && isPositive(result.id) && isPositive(result.version) && item.opportunityCode !== null ? null : "success";
  const keys = KEYS_OF(result);
  const shaped = (keys === "message,ok,reason" || keys === "message,ok,reason,version") && typeof result.message === "string" && ITEM_REFUSALS.has(result.reason as string);
  if (!shaped || (result.version !== undefined && !isPositive(result.version))) return "refusal";
  const decided = result.reason === "not_found" || result.reason === "conflict";
  return item.appended === 0 && (!decided || item.opportunityCode !== null) ? null : "refusal";
}

/** The stored batch (the `batch` member of a stored answer), or why it is not one the writer stores. */
export function readStoredBatch(value: unknown, text: string): StoredBatch | string {
  const malformed = `the stored batch answer is malformed: ${text}`;
  if (typeof value !== "object" || value === null || KEYS_OF(value) !== "allOrNone,failedIndex,items") return malformed;
  const batch = value as Record<string, unknown>;
  if (typeof batch.allOrNone !== "boolean" || !Array.isArray(batch.items) || batch.items.length === 0) return malformed;
  if (batch.failedIndex !== null && (!batch.allOrNone || !isCount(batch.failedIndex) || batch.failedIndex >= batch.items.length)) return malformed;
  const items = batch.items as unknown[];
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    if (typeof item !== "object" || item === null || itemProblem(item as Record<string, unknown>, index) !== null) return malformed;
  }
  return value as StoredBatch;
}

/** Where each decided item stood: the position before it and after its events. */
function* walk(batch: StoredBatch, start: number): Generator<{ item: StoredBatchItem; code: string; before: number; after: number }> {
  let position = start;
  for (const item of batch.items) {
    const undecided = !item.result.ok && (item.result.reason === "invalid" || item.result.reason === "not_run");
    if (item.opportunityCode === null || undecided) continue;
    yield { item, code: item.opportunityCode, before: position, after: position + item.appended };
    position += item.appended;
  }
}

/** The facts checking a stored batch asks for (so that a backend across a connection reads them in bulk). */
export function batchFactQuestions(batch: StoredBatch, start: number, maxPositions: number): { streamsAt: { streamId: string; position: number }[]; positions: number[] } {
  const streamsAt: { streamId: string; position: number }[] = [];
  const positions: number[] = [];
  for (const { code, before, after } of walk(batch, start)) {
    streamsAt.push({ streamId: code, position: before }, { streamId: code, position: after });
    for (let position = before + 1; position <= after && positions.length < maxPositions; position++) positions.push(position);
  }
  return { streamsAt, positions };
}

function itemFinding(item: StoredBatchItem, code: string, before: number, after: number, facts: BatchFacts): string | null {
  const at = `item ${item.index} (${JSON.stringify(code)})`;
  const result = item.result;
  if (result.ok) {
    for (let position = before + 1; position <= after; position++) {
      const stream = facts.streamOf(position);
      if (stream !== code) return `${at}: the answer says it appended position ${position}, but that event is ${stream === undefined ? "missing" : `of ${JSON.stringify(stream)}`}`;
    }
    const version = facts.version(code, after);
    if (version !== result.version) return `${at}: the answer says version ${result.version}, but at position ${after} the events have it at version ${version}`;
    const id = facts.createdId(code, after);
    return id === result.id ? null : `${at}: the answer says id ${result.id}, but the events created it with id ${JSON.stringify(id ?? null)}`;
  }
  const version = facts.version(code, before);
  const state = `at position ${before} it ${version === 0 ? "did not exist" : `was at version ${version}`}`;
  if (result.reason === "not_found" && (version !== 0 || result.message !== NOT_FOUND)) return `${at}: the answer says ${JSON.stringify(result.message)}, but ${state}`;
  if (result.reason === "conflict" && (version === 0 || result.version !== version)) return `${at}: the answer says ${JSON.stringify(result.message)}, but ${state}`;
  return null;
}

/** Why the events do not support this stored batch answer at the proof's place, or null when they do. */
export function checkStoredBatch(batch: StoredBatch, proof: { position: number; appended: number }, facts: BatchFacts): string | null {
  const total = batch.items.reduce((sum, item) => sum + item.appended, 0);
  if (total !== proof.appended) return `the batch answer's items appended ${total} event(s), but the proof says ${proof.appended}`;
  if (batch.failedIndex !== null && total !== 0) return `a batch stopped by allOrNone says it appended ${total} event(s)`;
  for (const { item, code, before, after } of walk(batch, proof.position)) {
    const finding = itemFinding(item, code, before, after, facts);
    if (finding) return finding;
  }
  return null;
}
