import { OPPORTUNITY_CREATED, OPPORTUNITY_FIELD_NAMES, OPPORTUNITY_UPDATED, type FieldValue } from "../../events/opportunity-events";
import type { StoredEvent } from "../../events/stored-event";
import type { FieldChangeOf, HistoryEntryOf } from "./history-entry";

export type FieldChange = FieldChangeOf<FieldValue>;
export type HistoryEntry = HistoryEntryOf<FieldValue>;

type Fields = Record<string, FieldValue | undefined>;

// Stored data is read defensively: a row altered behind the service's back may hold anything (verify names it),
// and the history must still show the rest rather than fail.
const objectOr = (value: unknown): Fields => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Fields) : {});
const textOr = (value: unknown, fallback: string): string => (typeof value === "string" ? value : fallback);

/** Shown for a metadata field that is missing or not text: only a row altered outside the service has one. */
export const UNREADABLE = "(unreadable)";

function changesOf(event: StoredEvent): FieldChange[] {
  const data = objectOr(event.data);
  if (event.type === OPPORTUNITY_CREATED) {
    const initial: FieldChange[] = [{ field: "endCustomerName", from: null, to: data.endCustomerName ?? null }];
    for (const name of OPPORTUNITY_FIELD_NAMES) {
      if (data[name] !== undefined && data[name] !== null) initial.push({ field: name, from: null, to: data[name] });
    }
    return initial;
  }
  if (event.type === OPPORTUNITY_UPDATED) {
    const changes = objectOr(data.changes);
    const previous = objectOr(data.previous);
    return OPPORTUNITY_FIELD_NAMES.filter((name) => changes[name] !== undefined).map((name) => ({
      field: name,
      from: previous[name] ?? null,
      to: changes[name] ?? null,
    }));
  }
  return [];
}

export function toHistoryEntry(event: StoredEvent): HistoryEntry {
  const metadata = objectOr(event.metadata);
  const batchIndex = metadata.batchIndex;
  return {
    position: event.position,
    version: event.version,
    type: event.type,
    recordedAt: event.recordedAt,
    actor: textOr(metadata.actor, UNREADABLE),
    requestId: textOr(metadata.requestId, UNREADABLE),
    ...(typeof batchIndex === "number" && Number.isInteger(batchIndex) && batchIndex >= 0 ? { batchIndex } : {}),
    changes: changesOf(event),
  };
}
