import { TypeCompiler } from "@sinclair/typebox/compiler";
import { OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED, OpportunityCreatedData, OpportunityUpdatedData, type OpportunityUpdatedData as UpdatedData } from "./opportunity-events";

// Compiled once: verify runs these over every event of the store.
const createdCheck = TypeCompiler.Compile(OpportunityCreatedData);
const updatedCheck = TypeCompiler.Compile(OpportunityUpdatedData);

/**
 * Whether an event's data has the shape its type promises, for auditors (verify, restore): returns why not, or
 * null. The fold never validates (events are facts); this is how a fact that could not have been written by
 * the service is found.
 */
export function eventDataProblem(type: string, streamId: string, data: unknown): string | null {
  if (type === OPPORTUNITY_CREATED) {
    const error = createdCheck.Errors(data).First();
    if (error) return `data of ${type} does not fit its schema at ${error.path || "/"}: ${error.message}`;
    if ((data as { opportunityCode: string }).opportunityCode !== streamId) return `opportunityCode in the data is not the stream ${streamId}`;
    return null;
  }
  if (type === OPPORTUNITY_UPDATED) {
    const error = updatedCheck.Errors(data).First();
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
