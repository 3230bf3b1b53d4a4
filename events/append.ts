import type { Database, Statement } from "bun:sqlite";
import { monotonicFactory } from "ulid";
import { canonicalJson } from "./canonical-json";
import { eventHash, GENESIS_HASH } from "./hash-chain";
import type { EventMetadata } from "./opportunity-events";
import { readHead, streamVersion } from "./read";
import { ConcurrencyError, type EventRow, type NewEvent, type StoredEvent } from "./stored-event";

// One factory for the process: ulid 3 looks up its random source on every plain `ulid()` call.
const nextEventId = monotonicFactory();

export type SchemaVersionOf = (type: string) => number;

/**
 * Appends events to one stream. Must run inside the store's write transaction (see event-store.ts), which
 * is what makes `position` gap-free and the version check race-free across processes.
 */
export function appendToStream(
  db: Database,
  insert: Statement<unknown, [EventRow]>,
  schemaVersionOf: SchemaVersionOf,
  streamId: string,
  expectedVersion: number,
  events: readonly NewEvent[],
  metadata: EventMetadata,
  recordedAt: string,
  chain?: ChainCursor,
): StoredEvent[] {
  if (!db.inTransaction) throw new Error("appendToStream must run inside the store's write transaction");
  const head = chain ?? readChainCursor(db);
  const actual = head.streamVersion(streamId);
  if (actual !== expectedVersion) throw new ConcurrencyError(streamId, expectedVersion, actual);

  let position = head.position;
  let prevHash = head.hash;
  let version = expectedVersion;
  const metadataText = canonicalJson(metadata);
  const stored: StoredEvent[] = [];
  for (const event of events) {
    position += 1;
    version += 1;
    const row: EventRow = {
      position,
      event_id: nextEventId(),
      stream_id: streamId,
      version,
      type: event.type,
      schema_version: schemaVersionOf(event.type),
      data: canonicalJson(event.data),
      metadata: metadataText,
      recorded_at: recordedAt,
      prev_hash: prevHash,
      hash: "",
    };
    row.hash = eventHash(prevHash, row);
    insert.run(row);
    stored.push({
      position,
      eventId: row.event_id,
      streamId,
      version,
      type: row.type,
      schemaVersion: row.schema_version,
      data: event.data,
      metadata,
      recordedAt,
      prevHash,
      hash: row.hash,
    });
    prevHash = row.hash;
  }
  head.position = position;
  head.hash = prevHash;
  head.setStreamVersion(streamId, version);
  return stored;
}

/**
 * The end of the chain as a write transaction sees it, and each stream's version: read once and moved along
 * by each append, so a batch of appends does not ask the database again each time (see event-store.ts).
 */
export interface ChainCursor {
  position: number;
  hash: string;
  streamVersion(streamId: string): number;
  setStreamVersion(streamId: string, version: number): void;
}

/** A cursor that reads stream versions from the database each time (for callers without a store). */
export function readChainCursor(db: Database): ChainCursor {
  const head = readHead(db);
  return {
    position: head?.position ?? 0,
    hash: head?.hash ?? GENESIS_HASH,
    streamVersion: (streamId) => streamVersion(db, streamId),
    setStreamVersion: () => {},
  };
}

export function prepareInsert(db: Database): Statement<unknown, [EventRow]> {
  return db.prepare<unknown, [EventRow]>(
    `INSERT INTO events (position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at, prev_hash, hash)
     VALUES ($position, $event_id, $stream_id, $version, $type, $schema_version, $data, $metadata, $recorded_at, $prev_hash, $hash)`,
    );
}
