import type { Database } from "bun:sqlite";
import { parseExactJson } from "./exact-json";
import type { EventMetadata } from "./opportunity-events";
import type { EventRow, StoredEvent } from "./stored-event";

export function toStoredEvent(row: EventRow): StoredEvent {
  return {
    position: row.position,
    eventId: row.event_id,
    streamId: row.stream_id,
    version: row.version,
    type: row.type,
    schemaVersion: row.schema_version,
    data: parseExactJson(row.data),
    metadata: JSON.parse(row.metadata) as EventMetadata,
    recordedAt: row.recorded_at,
    prevHash: row.prev_hash,
    hash: row.hash,
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
