import type { EventRow } from "./stored-event";

/** The `prev_hash` of the first event. */
export const GENESIS_HASH = "0".repeat(64);

/** The columns of an event row that its hash covers: every column but `prev_hash` and `hash`. */
export type HashedColumns = Omit<EventRow, "prev_hash" | "hash">;

// One hasher, reused: digest() leaves it ready for the next event, and a new one for each event costs more
// than the hashing itself. Each thread has its own module, so no two events share it at once.
const sha256 = new Bun.CryptoHasher("sha256");

/**
 * `hash = sha256(prev_hash + "\n" + canonical JSON of the row's other columns)`, hex. `data` and `metadata`
 * enter as the exact text stored, so anyone holding the rows can recompute the chain without our code.
 */
export function eventHash(prevHash: string, columns: HashedColumns): string {
  // Fed in pieces: one joined text would be copied once more before it is encoded (about 6% of hashing an event).
  sha256.update(prevHash);
  sha256.update("\n");
  sha256.update(hashedColumnsJson(columns));
  return sha256.digest("hex");
}

/**
 * canonicalJson of the hashed columns: an object built with its keys already in sorted order, written by one
 * JSON.stringify (the same text as canonicalJson, which the tests compare, at half the cost of writing each
 * value on its own and joining them: the chain is computed for every event appended and verified).
 */
export function hashedColumnsJson(c: HashedColumns): string {
  return JSON.stringify({
    data: c.data,
    event_id: c.event_id,
    metadata: c.metadata,
    position: c.position,
    recorded_at: c.recorded_at,
    schema_version: c.schema_version,
    stream_id: c.stream_id,
    type: c.type,
    version: c.version,
  });
}
