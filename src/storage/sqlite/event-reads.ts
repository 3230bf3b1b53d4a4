import type { Database } from "bun:sqlite";
import { columnInteger, columnJson, columnText, toStoredEvent, type EventRow, type StoredEvent } from "../../../events/stored-event";
import type { FoldInput, Head } from "../port";

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
export function readHead(db: Database): Head | null {
  return db.query<{ position: number; hash: string }, []>("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1").get();
}

export function streamVersion(db: Database, streamId: string): number {
  return db.query<{ v: number }, [string]>("SELECT COALESCE(MAX(version), 0) AS v FROM events WHERE stream_id = ?").get(streamId)!.v;
}

/** Up to `limit` events of one stream with `afterVersion < version <= throughVersion`, for a fold, in version order. */
export function readFoldInputs(db: Database, streamId: string, afterVersion: number, throughVersion: number, limit: number): FoldInput[] {
  return db
    .query<{ version: number; type: string; data: string; recorded_at: string }, [string, number, number, number]>(
      "SELECT version, type, data, recorded_at FROM events WHERE stream_id = ? AND version > ? AND version <= ? ORDER BY version LIMIT ?",
    )
    .all(streamId, afterVersion, throughVersion, limit)
    .map((row) => ({ version: columnInteger(row.version), type: columnText(row.type), data: columnJson(row.data), recordedAt: columnText(row.recorded_at) }));
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

/**
 * The event reads of one connection, synchronous: SQLite answers in-process, so the HTTP thread and the CLI
 * read without awaiting. SqliteStorage answers the port's async reads from these.
 */
export class SqliteEventReads {
  constructor(readonly db: Database) {}

  head(): Head | null {
    return readHead(this.db);
  }

  streamVersion(streamId: string): number {
    return streamVersion(this.db, streamId);
  }

  readStream(streamId: string): StoredEvent[] {
    return readStream(this.db, streamId);
  }

  readStreamPage(streamId: string, afterVersion: number, limit: number): StoredEvent[] {
    return readStreamPage(this.db, streamId, afterVersion, limit);
  }

  readAll(afterPosition = 0, limit = 1000): StoredEvent[] {
    return readAllAfter(this.db, afterPosition, limit);
  }

  readRowsAfter(afterPosition: number, limit: number): EventRow[] {
    return readRowsAfter(this.db, afterPosition, limit);
  }

  readFoldInputs(streamId: string, afterVersion: number, throughVersion: number, limit: number): FoldInput[] {
    return readFoldInputs(this.db, streamId, afterVersion, throughVersion, limit);
  }

  firstVersionRecordedAfter(streamId: string, recordedAt: string, afterVersion: number, throughVersion: number): number | null {
    return firstVersionRecordedAfter(this.db, streamId, recordedAt, afterVersion, throughVersion);
  }
}
