import type { Database } from "bun:sqlite";
import { parseExactJson } from "./exact-json";
import type { EventMetadata } from "./opportunity-events";
import type { EventRow, StoredEvent } from "./stored-event";

const utf8 = new TextDecoder();

/** A column as text whatever SQLite holds in it (its columns take any type when someone writes behind our back). */
function asText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return utf8.decode(value);
  return value === null || value === undefined ? "" : String(value);
}

const asInteger = (value: unknown): number => (typeof value === "number" ? value : Number(value));

/** The parsed JSON column, or its stored text as it is when that is not JSON. */
function parseColumn(value: unknown): unknown {
  const text = asText(value);
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
    position: asInteger(row.position),
    eventId: asText(row.event_id),
    streamId: asText(row.stream_id),
    version: asInteger(row.version),
    type: asText(row.type),
    schemaVersion: asInteger(row.schema_version),
    data: parseColumn(row.data),
    metadata: parseColumn(row.metadata) as EventMetadata,
    recordedAt: asText(row.recorded_at),
    prevHash: asText(row.prev_hash),
    hash: asText(row.hash),
  };
}

/** The events of one stream in version order. */
export function readStream(db: Database, streamId: string): StoredEvent[] {
  return db
    .query<EventRow, [string]>("SELECT * FROM events WHERE stream_id = ? ORDER BY version")
    .all(streamId)
    .map(toStoredEvent);
}

/** Up to `limit` events of one stream after `afterVersion`, in version order. */
export function readStreamPage(db: Database, streamId: string, afterVersion: number, limit: number): StoredEvent[] {
  return db
    .query<EventRow, [string, number, number]>("SELECT * FROM events WHERE stream_id = ? AND version > ? ORDER BY version LIMIT ?")
    .all(streamId, afterVersion, limit)
    .map(toStoredEvent);
}

/** Raw rows in global order after `position`, at most `limit` of them. */
export function readRowsAfter(db: Database, position: number, limit: number): EventRow[] {
  return db
    .query<EventRow, [number, number]>("SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?")
    .all(position, limit);
}

/** Events in global order after `position`, at most `limit` of them. */
export function readAllAfter(db: Database, position: number, limit: number): StoredEvent[] {
  return readRowsAfter(db, position, limit).map(toStoredEvent);
}

/** The last event's position and hash: what an auditor keeps outside the database. */
export function readHead(db: Database): { position: number; hash: string } | null {
  return db.query<{ position: number; hash: string }, []>("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1").get();
}

export function streamVersion(db: Database, streamId: string): number {
  return db.query<{ v: number }, [string]>("SELECT COALESCE(MAX(version), 0) AS v FROM events WHERE stream_id = ?").get(streamId)!.v;
}

/** What a fold of one stream reads of each event: no position, metadata or hashes. */
export interface FoldInput {
  version: number;
  type: string;
  data: unknown;
  recordedAt: string;
}

/** Up to `limit` events of one stream with `afterVersion < version <= throughVersion`, for a fold, in version order. */
export function readFoldInputs(db: Database, streamId: string, afterVersion: number, throughVersion: number, limit: number): FoldInput[] {
  return db
    .query<{ version: number; type: string; data: string; recorded_at: string }, [string, number, number, number]>(
      "SELECT version, type, data, recorded_at FROM events WHERE stream_id = ? AND version > ? AND version <= ? ORDER BY version LIMIT ?",
    )
    .all(streamId, afterVersion, throughVersion, limit)
    .map((row) => ({ version: asInteger(row.version), type: asText(row.type), data: parseColumn(row.data), recordedAt: asText(row.recorded_at) }));
}

/**
 * The first version of a stream, within `afterVersion < version <= throughVersion`, recorded after `recordedAt`
 * (UTC ISO 8601 with milliseconds, the stored form, so text order is time order); null when there is none.
 */
export function firstVersionRecordedAfter(db: Database, streamId: string, recordedAt: string, afterVersion: number, throughVersion: number): number | null {
  return db
    .query<{ v: number | null }, [string, number, number, string]>(
      "SELECT MIN(version) AS v FROM events WHERE stream_id = ? AND version > ? AND version <= ? AND recorded_at > ?",
    )
    .get(streamId, afterVersion, throughVersion, recordedAt)!.v;
}
