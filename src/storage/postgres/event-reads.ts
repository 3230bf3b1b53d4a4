import type { SQL } from "bun";
import { columnJson, toStoredEvent, type EventRow, type StoredEvent } from "../../../events/stored-event";
import type { FoldInput, Head } from "../port";

/**
 * Event queries on PostgreSQL. int8 columns arrive as strings (exact); positions and versions stay far below
 * 2^53, so they are numbers here, as on SQLite. `data` and `metadata` are `text`, the very bytes that were hashed.
 */

type RawRow = Record<keyof EventRow, string | number>;

/** A row as stored, with its integer columns as numbers. */
function toEventRow(row: RawRow): EventRow {
  return {
    ...(row as EventRow),
    position: Number(row.position),
    version: Number(row.version),
    schema_version: Number(row.schema_version),
  };
}

/** The last event's position and hash, from the events themselves (not the head row): what an auditor checks. */
export async function readHead(sql: SQL): Promise<Head | null> {
  const rows: { position: string; hash: string }[] = await sql`SELECT position, hash FROM events ORDER BY position DESC LIMIT 1`;
  return rows[0] ? { position: Number(rows[0].position), hash: rows[0].hash } : null;
}

export async function streamVersion(sql: SQL, streamId: string): Promise<number> {
  const [row] = await sql`SELECT COALESCE(MAX(version), 0) AS v FROM events WHERE stream_id = ${streamId}`;
  return Number(row.v);
}

export async function readStreamPage(sql: SQL, streamId: string, afterVersion: number, limit: number): Promise<StoredEvent[]> {
  const rows: RawRow[] = await sql`SELECT * FROM events WHERE stream_id = ${streamId} AND version > ${afterVersion} ORDER BY version LIMIT ${limit}`;
  return rows.map((row) => toStoredEvent(toEventRow(row)));
}

export async function readRowsAfter(sql: SQL, afterPosition: number, limit: number): Promise<EventRow[]> {
  const rows: RawRow[] = await sql`SELECT * FROM events WHERE position > ${afterPosition} ORDER BY position LIMIT ${limit}`;
  return rows.map(toEventRow);
}

export async function readAll(sql: SQL, afterPosition: number, limit: number): Promise<StoredEvent[]> {
  return (await readRowsAfter(sql, afterPosition, limit)).map(toStoredEvent);
}

export async function readFoldInputs(sql: SQL, streamId: string, afterVersion: number, throughVersion: number, limit: number): Promise<FoldInput[]> {
  const rows: { version: string; type: string; data: string; recorded_at: string }[] = await sql`
    SELECT version, type, data, recorded_at FROM events
    WHERE stream_id = ${streamId} AND version > ${afterVersion} AND version <= ${throughVersion} ORDER BY version LIMIT ${limit}`;
  return rows.map((row) => ({ version: Number(row.version), type: row.type, data: columnJson(row.data), recordedAt: row.recorded_at }));
}

export async function firstVersionRecordedAfter(sql: SQL, streamId: string, recordedAt: string, afterVersion: number, throughVersion: number): Promise<number | null> {
  const [row] = await sql`
    SELECT MIN(version) AS v FROM events
    WHERE stream_id = ${streamId} AND version > ${afterVersion} AND version <= ${throughVersion} AND recorded_at > ${recordedAt}`;
  return row.v === null ? null : Number(row.v);
}
