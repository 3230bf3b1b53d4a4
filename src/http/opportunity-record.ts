import { OPPORTUNITY_FIELD_NAMES } from "../../events/opportunity-events";
import type { Opportunity } from "../../projections/opportunity-state";

/** The record as the read route answers it: identity first, then the contract's fields in its order, then bookkeeping. */
export function presentOpportunity(state: Opportunity): Record<string, unknown> {
  const record: Record<string, unknown> = {
    id: state.id,
    opportunityCode: state.opportunityCode,
    endCustomerName: state.endCustomerName,
  };
  for (const name of OPPORTUNITY_FIELD_NAMES) record[name] = state[name];
  record.version = state.version;
  record.createdAt = state.createdAt;
  record.updatedAt = state.updatedAt;
  return record;
}
