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

/** Thrown when a stream's version is not the one the writer decided against. */
export class ConcurrencyError extends Error {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(`stream ${streamId} is at version ${actualVersion}, expected ${expectedVersion}`);
    this.name = "ConcurrencyError";
  }
}
