/**
 * One event of an opportunity's history as GET /api/opportunities/{code}/history answers it, for the service
 * (history.ts builds it, with each value as stored) and for the console in the browser (which reads it back from
 * JSON). It imports nothing, so that the console's bundle, type-checked on its own, can share it.
 */

/** One field's change, as an auditor reads it. */
export interface FieldChangeOf<Value> {
  field: string;
  from: Value;
  to: Value;
}

/** Who changed what, when, from what to what. */
export interface HistoryEntryOf<Value> {
  position: number;
  version: number;
  type: string;
  recordedAt: string;
  actor: string;
  requestId: string;
  /** Only on the events of a batch update: the item's index in the batch whose request is requestId. */
  batchIndex?: number;
  changes: FieldChangeOf<Value>[];
}
