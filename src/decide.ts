import {
  OPPORTUNITY_CREATED,
  OPPORTUNITY_FIELD_NAMES,
  OPPORTUNITY_UPDATED,
  type FieldValues,
  type OpportunityCreatedData,
  type OpportunityEvent,
} from "../events/opportunity-events";
import type { Opportunity } from "../projections/opportunity-state";
import type { CreateOpportunity, OpportunityCommand, UpdateOpportunity } from "./commands";

/** The events a command produces (none when nothing changes) and the version the opportunity ends at. */
export type Decision =
  | { ok: true; id: number; version: number; events: OpportunityEvent[] }
  | { ok: false; reason: "not_found" | "already_exists" | "conflict"; message: string; version?: number };

/** What a decision needs besides the state: the id a new opportunity would get. */
export interface DecisionContext {
  nextId: number;
}

/** Defaults a new opportunity starts with, written into its creation event so replay never depends on code. */
const CREATION_DEFAULTS: FieldValues = { status: "active", archived: false, pushedToOms: false };

export const NOT_FOUND = "商机不存在";

function decideCreate(command: CreateOpportunity, state: Opportunity | null, context: DecisionContext): Decision {
  if (state !== null) {
    return { ok: false, reason: "already_exists", message: `商机编号已存在: ${command.opportunityCode}` };
  }
  const data: OpportunityCreatedData = {
    id: context.nextId,
    opportunityCode: command.opportunityCode,
    endCustomerName: command.endCustomerName,
  };
  for (const name of OPPORTUNITY_FIELD_NAMES) {
    const value = command.fields[name] ?? CREATION_DEFAULTS[name] ?? null;
    if (value !== null) data[name] = value;
  }
  return { ok: true, id: context.nextId, version: 1, events: [{ type: OPPORTUNITY_CREATED, data }] };
}

function decideUpdate(command: UpdateOpportunity, state: Opportunity | null): Decision {
  if (state === null) return { ok: false, reason: "not_found", message: NOT_FOUND };
  // If-Match: the caller decided against a version that is no longer current; changing anything now could
  // undo a change it never saw.
  if (command.expectedVersion !== undefined && command.expectedVersion !== state.version) {
    return { ok: false, reason: "conflict", message: `商机已被修改，当前版本为 ${state.version}`, version: state.version };
  }
  const changes: FieldValues = {};
  const previous: FieldValues = {};
  let changed = false;
  for (const name of OPPORTUNITY_FIELD_NAMES) {
    const value = command.fields[name];
    if (value === undefined || value === state[name]) continue;
    changes[name] = value;
    previous[name] = state[name];
    changed = true;
  }
  // An update that changes nothing is still a success, but it is not a fact worth recording.
  if (!changed) return { ok: true, id: state.id, version: state.version, events: [] };
  return { ok: true, id: state.id, version: state.version + 1, events: [{ type: OPPORTUNITY_UPDATED, data: { changes, previous } }] };
}

/** Decides which events a command produces against the current state. Pure: no I/O, no clock. */
export function decide(command: OpportunityCommand, state: Opportunity | null, context: DecisionContext): Decision {
  return command.type === "CreateOpportunity" ? decideCreate(command, state, context) : decideUpdate(command, state);
}
