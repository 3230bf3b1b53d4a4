import { parseArgs } from "node:util";
import type { StoredEvent } from "../../events/stored-event";
import type { EventReads } from "../storage/port";
import { openCommandStorage } from "./command-storage";
import { stringifyExactJson } from "../../events/exact-json";
import { toHistoryEntry, type HistoryEntry } from "../audit/history";
import { formatZonedDateTime } from "../zoned-time";
import { DATABASE_HELP, DATABASE_OPTIONS, databaseSettings, UsageError } from "./shared-options";
import { escapeForTerminal } from "./terminal-text";

export const HISTORY_HELP = `Usage: opportunity-service history CODE [options]

Prints every event of one opportunity, oldest first: when (in the configured time zone), who (the client
name behind the secret), the request id, and each field's old and new value. Control characters in stored
text are shown escaped (\\n, \\u001b), so no stored value can forge a line or act on the terminal. Opens the
database read-only (it may be on a read-only mount).

Options:
${DATABASE_HELP}
  -h, --help         show this help

Exit code: 0, or 1 when no opportunity has that code.`;

/** A stored value as one line of text: JSON for what is not a string (exact for 64-bit IDs), escaped. */
function show(value: unknown): string {
  if (value === null || value === undefined) return "—";
  let text: string;
  try {
    text = typeof value === "string" ? value : stringifyExactJson(value);
  } catch {
    text = String(value);
  }
  return escapeForTerminal(text);
}

/** recorded_at in the configured zone; as stored (marked) when it is not a time, which only tampering makes. */
function when(recordedAt: string, timeZone: string): string {
  const epochMs = Date.parse(recordedAt);
  if (Number.isNaN(epochMs)) return `${escapeForTerminal(recordedAt)} (not a time)`;
  try {
    return formatZonedDateTime(epochMs, timeZone);
  } catch {
    return escapeForTerminal(recordedAt);
  }
}

function entryLines(entry: HistoryEntry, timeZone: string): string[] {
  const lines = [
    `v${entry.version}  ${when(entry.recordedAt, timeZone)}  ${escapeForTerminal(entry.type)}  by ${escapeForTerminal(entry.actor)}  ` +
      `(position ${entry.position}, request ${escapeForTerminal(entry.requestId)}${entry.batchIndex === undefined ? "" : `, batch item ${entry.batchIndex}`})`,
  ];
  const width = Math.max(0, ...entry.changes.map((change) => change.field.length));
  for (const change of entry.changes) lines.push(`    ${change.field.padEnd(width)}  ${show(change.from)} → ${show(change.to)}`);
  if (entry.changes.length === 0) lines.push("    (no field changes)");
  lines.push("");
  return lines;
}

const HISTORY_PAGE = 1000;

export async function history(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: DATABASE_OPTIONS, strict: true, allowPositionals: true });
  if (values.help) {
    process.stdout.write(`${HISTORY_HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("history takes exactly one opportunity code; see history --help");
  const code = positionals[0]!.trim();
  const settings = databaseSettings(values, env);
  const storage = await openCommandStorage(settings, { readOnly: true });
  try {
    const events = await readWholeStream(storage, code);
    if (events.length === 0) {
      process.stderr.write(`商机不存在: ${escapeForTerminal(code)}\n`);
      return 1;
    }
    const lines = [`${escapeForTerminal(code)}: ${events.length} event(s)`, ""];
    for (const event of events) lines.push(...entryLines(toHistoryEntry(event), settings.timeZone));
    process.stdout.write(lines.join("\n"));
    return 0;
  } finally {
    await storage.close();
  }
}

/** Every event of one stream, page by page. */
async function readWholeStream(storage: Pick<EventReads, "readStreamPage">, code: string): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (;;) {
    const page = await storage.readStreamPage(code, events.length === 0 ? 0 : events[events.length - 1]!.version, HISTORY_PAGE);
    events.push(...page);
    if (page.length < HISTORY_PAGE) return events;
  }
}
