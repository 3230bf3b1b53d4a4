import type { Database } from "bun:sqlite";

/**
 * The append-only `events` table. `position` is assigned by the writer inside its transaction (last + 1), so
 * it has no gaps; triggers make UPDATE and DELETE raise, which guards against bugs; the hash chain is what lets
 * an auditor detect tampering by someone who drops the triggers.
 */
export function createEventTable(db: Database): void {
  db.run(`CREATE TABLE IF NOT EXISTS events (
    position        INTEGER PRIMARY KEY,
    event_id        TEXT    NOT NULL UNIQUE,
    stream_id       TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    type            TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    data            TEXT    NOT NULL,
    metadata        TEXT    NOT NULL,
    recorded_at     TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL,
    UNIQUE (stream_id, version)
  )`);
  db.run(`CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END`);
  db.run(`CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END`);
}
