import { parseExactJson } from "./exact-json";
import type { EventMetadata } from "./opportunity-events";

/** One row of the `events` table, exactly as stored. */
export type EventRow = {
  position: number;
  event_id: string;
  stream_id: string;
  version: number;
  type: string;
  schema_version: number;
  data: string;
  metadata: string;
  recorded_at: string;
  prev_hash: string;
  hash: string;
};

/**
 * An event read back from the store, its JSON columns parsed. `data` and `metadata` are what the service wrote
 * (see opportunity-events.ts) unless someone wrote behind its back (see toStoredEvent): the audit readers
 * check their fields before use.
 */
export interface StoredEvent<Data = unknown> {
  position: number;
  eventId: string;
  streamId: string;
  version: number;
  type: string;
  schemaVersion: number;
  data: Data;
  metadata: EventMetadata;
  recordedAt: string;
  prevHash: string;
  hash: string;
}

/** An event to append: the store adds identity, order, time and hash. */
export interface NewEvent {
  type: string;
  data: unknown;
}

const utf8 = new TextDecoder();

/** A column as text whatever the database holds in it (SQLite's columns take any type when someone writes behind our back). */
export function columnText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return utf8.decode(value);
  return value === null || value === undefined ? "" : String(value);
}

export const columnInteger = (value: unknown): number => (typeof value === "number" ? value : Number(value));

/** The parsed JSON column, or its stored text as it is when that is not JSON. */
export function columnJson(value: unknown): unknown {
  const text = columnText(value);
  try {
    return parseExactJson(text);
  } catch {
    return text;
  }
}

/**
 * A stored row as readers see it. Never throws, whatever the row holds: what `verify` would reject (a
 * tampered column, text that is not JSON) is passed on as stored, so a read route shows it instead of failing.
 */
export function toStoredEvent(row: EventRow): StoredEvent {
  return {
    position: columnInteger(row.position),
    eventId: columnText(row.event_id),
    streamId: columnText(row.stream_id),
    version: columnInteger(row.version),
    type: columnText(row.type),
    schemaVersion: columnInteger(row.schema_version),
    data: columnJson(row.data),
    metadata: columnJson(row.metadata) as EventMetadata,
    recordedAt: columnText(row.recorded_at),
    prevHash: columnText(row.prev_hash),
    hash: columnText(row.hash),
  };
}
