import type { EventRow } from "./stored-event";

/** The `prev_hash` of the first event. */
export const GENESIS_HASH = "0".repeat(64);

/** The columns of an event row that its hash covers: every column but `prev_hash` and `hash`. */
export type HashedColumns = Omit<EventRow, "prev_hash" | "hash">;

/**
 * `hash = sha256(prev_hash + "\n" + canonical JSON of the row's other columns)`, hex. `data` and `metadata`
 * enter as the exact text stored, so anyone holding the rows can recompute the chain without our code.
 */
export function eventHash(prevHash: string, columns: HashedColumns): string {
  return Bun.CryptoHasher.hash("sha256", `${prevHash}\n${hashedColumnsJson(columns)}`, "hex") as string;
}

/**
 * canonicalJson of the hashed columns, written out with the keys already in sorted order: the same text,
 * without sorting nine keys for every event appended or verified (the tests compare it with canonicalJson).
 */
export function hashedColumnsJson(c: HashedColumns): string {
  const text = JSON.stringify;
  return (
    `{"data":${text(c.data)},"event_id":${text(c.event_id)},"metadata":${text(c.metadata)},"position":${text(c.position)},` +
    `"recorded_at":${text(c.recorded_at)},"schema_version":${text(c.schema_version)},"stream_id":${text(c.stream_id)},` +
    `"type":${text(c.type)},"version":${text(c.version)}}`
  );
}
