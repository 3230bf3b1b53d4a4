import { OPPORTUNITY_FIELD_NAMES, OPPORTUNITY_FIELDS, type FieldKind, type FieldValue, type OpportunityField } from "../../events/opportunity-events";
import type { Opportunity } from "../../projections/opportunity-state";

/**
 * The `opportunities` table's columns, the same on every backend: one column per updatable field, named in
 * snake_case, beside the identity, version and times. How a value is stored is each backend's; which column
 * holds which field, and how a row becomes an Opportunity, is written once here.
 */
const snakeCase = (name: string) => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/** Field name -> column name. */
export const FIELD_COLUMNS = Object.fromEntries(OPPORTUNITY_FIELD_NAMES.map((name) => [name, snakeCase(name)])) as Record<OpportunityField, string>;

export type OpportunityRow = Record<string, string | number | bigint | boolean | null | undefined>;

/** A stored value of one field as the backend's client returns it, as the field's value (null when empty). */
export type FieldDecoder = (kind: FieldKind, value: NonNullable<OpportunityRow[string]>) => FieldValue;

/** A row of the table as the Opportunity it holds. */
export function opportunityFromRow(row: OpportunityRow, decode: FieldDecoder): Opportunity {
  const state = {
    id: Number(row.id),
    opportunityCode: row.code as string,
    endCustomerName: row.end_customer_name as string,
    version: Number(row.version),
    createdAt: row.created_at as string,
    updatedAt: row.updated_at as string,
  } as Opportunity;
  for (const name of OPPORTUNITY_FIELD_NAMES) {
    const value = row[FIELD_COLUMNS[name]];
    state[name] = value === null || value === undefined ? null : decode(OPPORTUNITY_FIELDS[name], value);
  }
  return state;
}
