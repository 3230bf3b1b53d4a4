import { columnInteger, columnText, type EventRow, type StoredEvent } from "../../events/stored-event";
import type { EventReads, Head } from "../storage/port";

/**
 * The global event feed (GET /api/events) in its two forms. `default`: camelCase names, `data` and `metadata`
 * parsed, for integrators reading what happened. `stored`: each row exactly as hashed (the column names, `data`
 * and `metadata` as their stored text), so that an auditor recomputes every hash with a few lines of any
 * language and never has to parse, and possibly round, a 64-bit ID to do it.
 */

export const FEED_FORMATS = ["default", "stored"] as const;
export type FeedFormat = (typeof FEED_FORMATS)[number];

/** The columns of the stored form, in the order the feed writes them (the table's column order). */
export const STORED_COLUMNS = ["position", "event_id", "stream_id", "version", "type", "schema_version", "data", "metadata", "recorded_at", "prev_hash", "hash"] as const;

/** An event as the default feed answers it: every stored column, `data` and `metadata` parsed (the live stream sends the same). */
export function presentEvent(event: StoredEvent) {
  return {
    position: event.position,
    eventId: event.eventId,
    streamId: event.streamId,
    version: event.version,
    type: event.type,
    schemaVersion: event.schemaVersion,
    data: event.data,
    metadata: event.metadata,
    recordedAt: event.recordedAt,
    prevHash: event.prevHash,
    hash: event.hash,
  };
}

/**
 * A row in its hashed form. Text columns go through columnText like every reader's (SQLite hands back whatever
 * type someone wrote behind the service's back), so a tampered row is shown, and its hash then fails to
 * recompute, rather than failing the page.
 */
export function presentStoredRow(row: EventRow): EventRow {
  return {
    position: columnInteger(row.position),
    event_id: columnText(row.event_id),
    stream_id: columnText(row.stream_id),
    version: columnInteger(row.version),
    type: columnText(row.type),
    schema_version: columnInteger(row.schema_version),
    data: columnText(row.data),
    metadata: columnText(row.metadata),
    recorded_at: columnText(row.recorded_at),
    prev_hash: columnText(row.prev_hash),
    hash: columnText(row.hash),
  };
}

export interface FeedPage {
  events: (ReturnType<typeof presentEvent> | EventRow)[];
  nextAfter: number | null;
  head: Head | null;
}

/** One page of the feed after `after`: at most `limit` events, the cursor of the next page, and the head. */
export async function readFeedPage(reads: Pick<EventReads, "readAll" | "readRowsAfter" | "head">, after: number, limit: number, format: FeedFormat): Promise<FeedPage> {
  // One more than asked: whether a next page exists is known without a count.
  const events = format === "stored" ? (await reads.readRowsAfter(after, limit + 1)).map(presentStoredRow) : (await reads.readAll(after, limit + 1)).map(presentEvent);
  const more = events.length > limit;
  if (more) events.length = limit;
  const nextAfter = more ? events[events.length - 1]!.position : null;
  // Read after the page: the head covers every event of the page.
  return { events, nextAfter, head: await reads.head() };
}
