import {
  OPPORTUNITY_CREATED,
  OPPORTUNITY_FIELD_NAMES,
  OPPORTUNITY_UPDATED,
  type FieldValue,
  type OpportunityCreatedData,
  type OpportunityField,
  type OpportunityUpdatedData,
} from "../events/opportunity-events";

/** What is true of one opportunity now: every field, `null` where it has no value. */
export type Opportunity = {
  id: number;
  opportunityCode: string;
  endCustomerName: string;
  version: number;
  createdAt: string;
  updatedAt: string;
} & Record<OpportunityField, FieldValue>;

/** The part of a stored event that a fold reads. */
export interface FoldableEvent {
  type: string;
  data: unknown;
  version: number;
  recordedAt: string;
}

function emptyFields(): Record<OpportunityField, FieldValue> {
  const fields = {} as Record<OpportunityField, FieldValue>;
  for (const name of OPPORTUNITY_FIELD_NAMES) fields[name] = null;
  return fields;
}

/** An object's fields; nothing for anything else (only a row altered behind the service's back holds that). */
const fieldsOf = (value: unknown): Record<string, unknown> => (typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {});

function created(event: FoldableEvent): Opportunity {
  const data = fieldsOf(event.data) as OpportunityCreatedData;
  const next = {
    ...emptyFields(),
    id: data.id,
    opportunityCode: data.opportunityCode,
    endCustomerName: data.endCustomerName,
    version: event.version,
    createdAt: event.recordedAt,
    updatedAt: event.recordedAt,
  } as Opportunity;
  for (const name of OPPORTUNITY_FIELD_NAMES) if (data[name] !== undefined) next[name] = data[name];
  return next;
}

/** Writes an update's changes into `target` (a copy the caller owns). */
function applyUpdate(target: Opportunity, event: FoldableEvent): Opportunity {
  const changes = fieldsOf(fieldsOf(event.data).changes) as OpportunityUpdatedData["changes"];
  target.version = event.version;
  target.updatedAt = event.recordedAt;
  for (const name of OPPORTUNITY_FIELD_NAMES) if (changes[name] !== undefined) target[name] = changes[name];
  return target;
}

/**
 * Folds one event into the state. Events are facts: this never validates and never throws on old data; an
 * event type it does not know leaves the state as it was.
 */
export function evolve(state: Opportunity | null, event: FoldableEvent): Opportunity | null {
  return fold(state === null ? null : { ...state }, event);
}

/**
 * evolve for a fold that owns its states and keeps only the latest (rebuild): the state passed in is changed
 * and returned rather than copied, which over a million events is a tenth of a rebuild's time. The same rules:
 * evolve is this applied to a copy.
 */
export function evolveOwned(state: Opportunity | null, event: FoldableEvent): Opportunity | null {
  return fold(state, event);
}

function fold(state: Opportunity | null, event: FoldableEvent): Opportunity | null {
  switch (event.type) {
    case OPPORTUNITY_CREATED:
      return created(event);
    case OPPORTUNITY_UPDATED:
      return state === null ? null : applyUpdate(state, event);
    default:
      if (state !== null) state.version = event.version;
      return state;
  }
}

/** The state after a stream's events, or null before its creation. */
export function foldStream(events: Iterable<FoldableEvent>): Opportunity | null {
  let state: Opportunity | null = null;
  for (const event of events) state = evolve(state, event);
  return state;
}
