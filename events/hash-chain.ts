import { canonicalJson } from "./canonical-json";
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
  const covered = canonicalJson({
    position: columns.position,
    event_id: columns.event_id,
    stream_id: columns.stream_id,
    version: columns.version,
    type: columns.type,
    schema_version: columns.schema_version,
    data: columns.data,
    metadata: columns.metadata,
    recorded_at: columns.recorded_at,
  });
  return Bun.CryptoHasher.hash("sha256", `${prevHash}\n${covered}`, "hex") as string;
}
