import type { Database } from "bun:sqlite";
import { canonicalJson } from "../../events/canonical-json";
import { readHead, readRowsAfter } from "../storage/sqlite/event-reads";

const PAGE = 5000;

/**
 * The events after `after` up to `to` (default: the head when the export starts) as NDJSON chunks, one full
 * stored row per line. Pages by position, which never changes once written, so it is consistent on a live
 * database without holding a read transaction open for the whole export.
 */
export function* exportChunks(db: Database, options: { after?: number; to?: number } = {}): Generator<string> {
  let after = options.after ?? 0;
  const to = options.to ?? readHead(db)?.position ?? 0;
  while (after < to) {
    const rows = readRowsAfter(db, after, Math.min(PAGE, to - after));
    if (rows.length === 0) return;
    let chunk = "";
    for (const row of rows) chunk += `${canonicalJson(row)}\n`;
    yield chunk;
    after = rows[rows.length - 1]!.position;
  }
}
