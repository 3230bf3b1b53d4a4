import { Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import {
  EventMetadata,
  OPPORTUNITY_CREATED,
  OPPORTUNITY_UPDATED,
  OpportunityCreatedData,
  OpportunityUpdatedData,
  SCHEMA_VERSIONS,
  type OpportunityUpdatedData as UpdatedData,
} from "./opportunity-events";
import type { EventRow } from "./stored-event";

// Compiled once: verify runs these over every event of the store. Check() is the compiled fast path; the
// errors iterator (which walks the schema generically) runs only for a value that fails, to say why.
const createdCheck = TypeCompiler.Compile(OpportunityCreatedData);
const updatedCheck = TypeCompiler.Compile(OpportunityUpdatedData);
// Exactly the keys the service writes: anything else in metadata was not written by it.
const metadataCheck = TypeCompiler.Compile(Type.Object(EventMetadata.properties, { additionalProperties: false }));

const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
/**
 * recorded_at values found sound: the events of one batch share theirs, and a walk of a range of streams meets
 * each batch's again and again (one event per stream), so each is parsed about once. Bounded: forgotten when full.
 */
const goodInstants = new Set<string>();
const GOOD_INSTANTS_KEPT = 65_536;
const UTC_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function isUtcMillis(text: string): boolean {
  if (goodInstants.has(text)) return true;
  if (!UTC_MILLIS.test(text) || Number.isNaN(Date.parse(text)) || new Date(text).toISOString() !== text) return false;
  if (goodInstants.size >= GOOD_INSTANTS_KEPT) goodInstants.clear();
  goodInstants.add(text);
  return true;
}

/**
 * Whether an event's data has the shape its type promises, for auditors (verify, restore): returns why not, or
 * null. The fold never validates (events are facts); this is how a fact that could not have been written by
 * the service is found.
 */
export function eventDataProblem(type: string, streamId: string, data: unknown): string | null {
  if (type === OPPORTUNITY_CREATED) {
    const error = createdCheck.Check(data) ? undefined : createdCheck.Errors(data).First();
    if (error) return `data of ${type} does not fit its schema at ${error.path || "/"}: ${error.message}`;
    if ((data as { opportunityCode: string }).opportunityCode !== streamId) return `opportunityCode in the data is not the stream ${streamId}`;
    return null;
  }
  if (type === OPPORTUNITY_UPDATED) {
    const error = updatedCheck.Check(data) ? undefined : updatedCheck.Errors(data).First();
    if (error) return `data of ${type} does not fit its schema at ${error.path || "/"}: ${error.message}`;
    return changesProblem(data as UpdatedData);
  }
  return `unknown event type ${type}`;
}

/** An update's changes and previous values must name the same fields, at least one. */
function changesProblem({ changes, previous }: UpdatedData): string | null {
  let changed = 0;
  let previousFields = 0;
  for (const field in changes) if (Object.hasOwn(changes, field)) changed += 1;
  for (const field in previous) if (Object.hasOwn(previous, field)) previousFields += 1;
  if (changed === 0) return "an update with no changes";
  // The usual case, checked without building lists: previous has exactly the changed fields as its own.
  let paired = 0;
  for (const field in changes) if (Object.hasOwn(changes, field) && Object.hasOwn(previous, field)) paired += 1;
  if (paired === changed && previousFields === changed) return null;
  const missing = Object.keys(changes).filter((field) => !(field in previous));
  const extra = Object.keys(previous).filter((field) => !(field in changes));
  if (missing.length > 0) return `previous lacks the old value of changed field(s) ${missing.join(", ")}`;
  if (extra.length > 0) return `previous holds field(s) ${extra.join(", ")} that did not change`;
  return null;
}

/**
 * The columns besides data that every reader relies on: the event id, the schema version of its type, when it
 * was recorded (UTC ISO 8601 with milliseconds, a real instant) and the metadata (who, which request). Returns
 * why a row could not have been written by the service, or null. `metadata` is the parsed column.
 */
export function eventColumnsProblem(row: EventRow, metadata: unknown): string | null {
  if (!ULID.test(row.event_id)) return `event_id ${JSON.stringify(row.event_id)} is not a ULID`;
  const schemaVersion = (SCHEMA_VERSIONS as Record<string, number>)[row.type];
  if (schemaVersion !== undefined && row.schema_version !== schemaVersion) {
    return `schema_version ${row.schema_version} of ${row.type} is not ${schemaVersion}, the only one this binary reads`;
  }
  if (!isUtcMillis(row.recorded_at)) return `recorded_at ${JSON.stringify(row.recorded_at)} is not a UTC time like 2026-04-30T02:20:30.123Z`;
  const error = metadataCheck.Check(metadata) ? undefined : metadataCheck.Errors(metadata).First();
  if (error) return `metadata does not fit its schema at ${error.path || "/"}: ${error.message}`;
  return null;
}
