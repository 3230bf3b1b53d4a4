import type { EventMetadata } from "../../events/opportunity-events";
import type { UpdateOpportunity } from "../commands";
import type { Decision } from "../decide";
import type { IdempotencyClaim, KeyRefusal } from "../idempotency";

/**
 * A batch update (PUT /api/opportunities/integration/batch-update) as the write path sees it: one unit of the
 * group-commit queue, its items decided in order, each against the state the items before it left, each real
 * change its own OpportunityUpdated event, all of them committed in the one transaction of the unit's group.
 * This file holds what a batch is and how its items' outcomes make its answer; batch-plan.ts appends the events.
 */

/** An item as the HTTP layer hands it over: an update command, or the reasons its body was refused. */
export type BatchItem = { command: UpdateOpportunity } | { invalid: string; opportunityCode: string | null };

export interface BatchUpdate {
  items: BatchItem[];
  /** All or nothing: when any item fails, no item's change is written. */
  allOrNone: boolean;
}

/** A batch update as queued: its items, the metadata its events share, the key covering the whole batch. */
export interface BatchUpdateRequest {
  batch: BatchUpdate;
  metadata: EventMetadata;
  idempotency?: IdempotencyClaim;
}

/** What an item that was not decided, or decided but not written, answers. */
export type ItemRefusal = { ok: false; reason: "invalid" | "not_run"; message: string; version?: undefined };

export interface BatchItemOutcome {
  index: number;
  /** The code the item named (trimmed); null when its body had none that could be read. */
  opportunityCode: string | null;
  /** Its decision, as the update route would have reached it alone at that point; or why it was not decided or not run. */
  result: Decision | ItemRefusal;
  /** How many events the item appended (0 or 1). */
  appended: number;
}

export interface BatchAnswer {
  allOrNone: boolean;
  /** With allOrNone: the first item that failed, when nothing was written because of it; else null. */
  failedIndex: number | null;
  items: BatchItemOutcome[];
}

/** A batch's result: processed (whatever its items' outcomes), or its key refused. */
export type BatchUpdateResult = ({ ok: true; batch: BatchAnswer; appended?: number } | KeyRefusal) & { replayed?: boolean };

/** What an item answers when allOrNone stopped the batch although it would have succeeded. */
export const NOT_RUN = "未执行";

/** Decides one item against the state so far and appends its events; says how many. */
export type ItemDecider = (command: UpdateOpportunity, index: number) => { decision: Decision; appended: number };

/**
 * The outcome of every item, in order. Items whose body was refused are not decided; the others are decided by
 * `decideItem` one after another. With allOrNone, once any item failed, the caller takes every item's events
 * back (failedIndex says so) and the items that would have succeeded answer 未执行.
 */
export function decideItems(batch: BatchUpdate, decideItem: ItemDecider): BatchAnswer {
  const items = batch.items.map((item, index): BatchItemOutcome => {
    if ("invalid" in item) return { index, opportunityCode: item.opportunityCode, result: { ok: false, reason: "invalid", message: item.invalid }, appended: 0 };
    const { decision, appended } = decideItem(item.command, index);
    return { index, opportunityCode: item.command.opportunityCode, result: decision, appended };
  });
  const failedIndex = batch.allOrNone ? items.findIndex((item) => !item.result.ok) : -1;
  if (failedIndex < 0) return { allOrNone: batch.allOrNone, failedIndex: null, items };
  const notRun: ItemRefusal = { ok: false, reason: "not_run", message: NOT_RUN };
  return { allOrNone: true, failedIndex, items: items.map((item) => (item.result.ok ? { ...item, result: notRun, appended: 0 } : item)) };
}

/** The answer without the events: what a retry with the key is served, and what crosses to another thread. */
export function withoutEvents(batch: BatchAnswer): BatchAnswer {
  return {
    ...batch,
    items: batch.items.map((item) => {
      if (!item.result.ok) return item;
      const { events: _events, ...decided } = item.result;
      return { ...item, result: { ...decided, events: [] } };
    }),
  };
}

/** The stored outcome of a batch's key (JSON text): the whole answer, each item without its events. */
export function storedBatchOutcome(batch: BatchAnswer): string {
  const items = batch.items.map((item) => {
    const result: Record<string, unknown> = { ...item.result };
    delete result.events;
    return { ...item, result };
  });
  return JSON.stringify({ ok: true, batch: { ...batch, items } });
}

/** Every code the batch's decided items name, each once. */
export const codesOfBatch = (batch: BatchUpdate): string[] => [...new Set(batch.items.flatMap((item) => ("command" in item ? [item.command.opportunityCode] : [])))];
