import { OPPORTUNITY_CREATED, OPPORTUNITY_FIELD_NAMES, OPPORTUNITY_UPDATED, type FieldValue, type OpportunityCreatedData, type OpportunityUpdatedData } from "../../events/opportunity-events";
import type { StoredEvent } from "../../events/stored-event";

/** One field's change, as an auditor reads it. */
export interface FieldChange {
  field: string;
  from: FieldValue;
  to: FieldValue;
}

/** One event of an opportunity's history: who changed what, when, from what to what. */
export interface HistoryEntry {
  position: number;
  version: number;
  type: string;
  recordedAt: string;
  actor: string;
  requestId: string;
  changes: FieldChange[];
}

function changesOf(event: StoredEvent): FieldChange[] {
  if (event.type === OPPORTUNITY_CREATED) {
    const data = event.data as OpportunityCreatedData;
    const initial: FieldChange[] = [{ field: "endCustomerName", from: null, to: data.endCustomerName }];
    for (const name of OPPORTUNITY_FIELD_NAMES) {
      if (data[name] !== undefined && data[name] !== null) initial.push({ field: name, from: null, to: data[name] });
    }
    return initial;
  }
  if (event.type === OPPORTUNITY_UPDATED) {
    const { changes, previous } = event.data as OpportunityUpdatedData;
    return OPPORTUNITY_FIELD_NAMES.filter((name) => changes[name] !== undefined).map((name) => ({
      field: name,
      from: previous[name] ?? null,
      to: changes[name] ?? null,
    }));
  }
  return [];
}

export function toHistoryEntry(event: StoredEvent): HistoryEntry {
  return {
    position: event.position,
    version: event.version,
    type: event.type,
    recordedAt: event.recordedAt,
    actor: event.metadata.actor,
    requestId: event.metadata.requestId,
    changes: changesOf(event),
  };
}
