import { canonicalJson } from "../../events/canonical-json";
import type { EventReads } from "../storage/port";

const PAGE = 5000;

/**
 * The events after `after` up to `to` (default: the head when the export starts) as NDJSON chunks, one full
 * stored row per line, from either backend. Pages by position, which never changes once written, so it is
 * consistent on a live database without holding a read transaction open for the whole export.
 */
export async function* exportChunks(reads: Pick<EventReads, "head" | "readRowsAfter">, options: { after?: number; to?: number } = {}): AsyncGenerator<string> {
  let after = options.after ?? 0;
  const to = options.to ?? (await reads.head())?.position ?? 0;
  while (after < to) {
    const rows = await reads.readRowsAfter(after, Math.min(PAGE, to - after));
    if (rows.length === 0) return;
    let chunk = "";
    for (const row of rows) chunk += `${canonicalJson(row)}\n`;
    yield chunk;
    after = rows[rows.length - 1]!.position;
  }
}

/** Every chunk of an export as one text (tests and small stores). */
export async function exportText(reads: Pick<EventReads, "head" | "readRowsAfter">, options: { after?: number; to?: number } = {}): Promise<string> {
  let text = "";
  for await (const chunk of exportChunks(reads, options)) text += chunk;
  return text;
}
