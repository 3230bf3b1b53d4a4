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
/** The last recorded_at found sound: the events of one batch share it, so it is parsed once per batch. */
let lastGoodInstant = "";
const UTC_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

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
    const { changes, previous } = data as UpdatedData;
    const changed = Object.keys(changes);
    if (changed.length === 0) return "an update with no changes";
    const missing = changed.filter((field) => !(field in previous));
    const extra = Object.keys(previous).filter((field) => !(field in changes));
    if (missing.length > 0) return `previous lacks the old value of changed field(s) ${missing.join(", ")}`;
    if (extra.length > 0) return `previous holds field(s) ${extra.join(", ")} that did not change`;
    return null;
  }
  return `unknown event type ${type}`;
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
  if (row.recorded_at !== lastGoodInstant) {
    if (!UTC_MILLIS.test(row.recorded_at) || Number.isNaN(Date.parse(row.recorded_at)) || new Date(row.recorded_at).toISOString() !== row.recorded_at) {
      return `recorded_at ${JSON.stringify(row.recorded_at)} is not a UTC time like 2026-04-30T02:20:30.123Z`;
    }
    lastGoodInstant = row.recorded_at;
  }
  const error = metadataCheck.Check(metadata) ? undefined : metadataCheck.Errors(metadata).First();
  if (error) return `metadata does not fit its schema at ${error.path || "/"}: ${error.message}`;
  return null;
}
