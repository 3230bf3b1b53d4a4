import { canonicalJson } from "./canonical-json";
import { eventHash } from "./hash-chain";
import type { EventMetadata } from "./opportunity-events";
import type { EventRow, NewEvent, StoredEvent } from "./stored-event";

/** The end of the chain: the last position and its hash (GENESIS_HASH at position 0). */
export interface ChainEnd {
  position: number;
  hash: string;
}

/** Where the identity and shape of each appended event come from. */
export interface AppendIdentity {
  nextEventId: () => string;
  schemaVersionOf: (type: string) => number;
}

/**
 * The rows that append `events` to one stream after `after`: positions, versions and hashes continue the chain
 * and the stream. Pure: nothing is written here; whoever holds the write lock writes the rows (each storage
 * backend's batch-commit.ts). The same bytes whichever backend stores them.
 */
export function appendToChain(
  after: ChainEnd,
  streamId: string,
  streamVersion: number,
  events: readonly NewEvent[],
  metadata: EventMetadata,
  recordedAt: string,
  identity: AppendIdentity,
): { rows: EventRow[]; events: StoredEvent[] } {
  const rows: EventRow[] = [];
  const stored: StoredEvent[] = [];
  let prevHash = after.hash;
  const metadataText = canonicalJson(metadata);
  events.forEach((event, index) => {
    const row: EventRow = {
      position: after.position + index + 1,
      event_id: identity.nextEventId(),
      stream_id: streamId,
      version: streamVersion + index + 1,
      type: event.type,
      schema_version: identity.schemaVersionOf(event.type),
      data: canonicalJson(event.data),
      metadata: metadataText,
      recorded_at: recordedAt,
      prev_hash: prevHash,
      hash: "",
    };
    row.hash = eventHash(prevHash, row);
    rows.push(row);
    stored.push({
      position: row.position,
      eventId: row.event_id,
      streamId,
      version: row.version,
      type: row.type,
      schemaVersion: row.schema_version,
      data: event.data,
      metadata,
      recordedAt,
      prevHash,
      hash: row.hash,
    });
    prevHash = row.hash;
  });
  return { rows, events: stored };
}
