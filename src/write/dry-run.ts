import { OPPORTUNITY_CREATED, OPPORTUNITY_FIELD_NAMES, type FieldValue, type OpportunityEvent } from "../../events/opportunity-events";
import type { Decision } from "../decide";
import type { KeyRetention } from "../idempotency";
import type { SnapshotReads } from "../storage/port";
import { needsOf, planBatch, type UnitResult, type WriteRequest, type WriteResult, type WriteUnit } from "./batch-plan";
import type { BatchUpdateRequest, BatchUpdateResult } from "./batch-update";

/**
 * A dry run (`?dryRun=true`): the unit is decided exactly as a commit would decide it, by the same planBatch,
 * against the state read through the storage port in one read transaction, but without the write lock, without
 * the group-commit queue and without writing anything: no event, no projection change, no idempotency key (not
 * even the in-flight claim). Its key, if any, is looked up like a commit looks it up, so a retry of a key
 * already used answers as its real retry would. A write committed between the dry run's read and a real call
 * can make the real call answer otherwise: a dry run tells what would happen now, it reserves nothing.
 */
export async function dryRun(unit: WriteRequest, reads: SnapshotReads, retention: KeyRetention, now?: Date): Promise<WriteResult>;
export async function dryRun(unit: BatchUpdateRequest, reads: SnapshotReads, retention: KeyRetention, now?: Date): Promise<BatchUpdateResult>;
export async function dryRun(unit: WriteUnit, reads: SnapshotReads, retention: KeyRetention, now = new Date()): Promise<UnitResult> {
  const snapshot = await reads.readSnapshot(needsOf([unit], now, retention));
  const outcome = planBatch([unit], snapshot, { now, retention }).outcomes[0]!;
  if ("error" in outcome) throw outcome.error;
  return outcome.result;
}

/** One field's change as a dry run shows it. */
export interface FieldDiff {
  from: FieldValue;
  to: FieldValue;
}

/**
 * What the events of a decision would change, field by field: for a creation every value it sets (the end
 * customer too) from null; for an update each changed field from its previous value. Empty when nothing changes.
 */
export function changesOf(events: readonly OpportunityEvent[]): Record<string, FieldDiff> {
  const changes: Record<string, FieldDiff> = {};
  for (const event of events) {
    if (event.type === OPPORTUNITY_CREATED) {
      changes.endCustomerName = { from: null, to: event.data.endCustomerName };
      for (const name of OPPORTUNITY_FIELD_NAMES) {
        const value = event.data[name];
        if (value !== undefined && value !== null) changes[name] = { from: null, to: value };
      }
      continue;
    }
    for (const name of OPPORTUNITY_FIELD_NAMES) {
      if (!(name in event.data.changes)) continue;
      changes[name] = { from: event.data.previous[name] ?? null, to: event.data.changes[name] ?? null };
    }
  }
  return changes;
}

/** A dry run's success data: the opportunity's id, the version it would reach and what would change. */
export function dryRunData(decision: Extract<Decision, { ok: true }>): { id: number; version: number; changes: Record<string, FieldDiff> } {
  return { id: decision.id, version: decision.version, changes: changesOf(decision.events ?? []) };
}
