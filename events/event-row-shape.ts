import type { EventRow } from "./stored-event";

const INTEGER_COLUMNS = ["position", "version", "schema_version"] as const;
const TEXT_COLUMNS = ["event_id", "stream_id", "type", "data", "metadata", "recorded_at", "prev_hash", "hash"] as const;
const COLUMNS = new Set<string>([...INTEGER_COLUMNS, ...TEXT_COLUMNS]);

/**
 * Checks that a value read from an export is one whole event row: every column, right types, nothing else.
 * Returns the row, or why it is not one. Whether its hash holds is the chain walker's business.
 */
export function toEventRow(value: unknown): EventRow | string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not a JSON object";
  const record = value as Record<string, unknown>;
  const extra = Object.keys(record).filter((key) => !COLUMNS.has(key));
  if (extra.length > 0) return `unknown column(s): ${extra.join(", ")}`;
  for (const column of INTEGER_COLUMNS) {
    if (!Number.isSafeInteger(record[column]) || (record[column] as number) < 1) return `column ${column} must be a positive integer`;
  }
  for (const column of TEXT_COLUMNS) {
    if (typeof record[column] !== "string") return `column ${column} must be a string`;
  }
  return record as EventRow;
}
