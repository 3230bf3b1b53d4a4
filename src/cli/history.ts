import { parseArgs } from "node:util";
import { readStream } from "../../events/read";
import { canonicalJson } from "../../events/canonical-json";
import { toHistoryEntry } from "../audit/history";
import { formatZonedDateTime } from "../zoned-time";
import { openExistingDatabase, DATABASE_HELP, DATABASE_OPTIONS, databaseSettings, UsageError } from "./shared-options";

export const HISTORY_HELP = `Usage: opportunity-service history CODE [options]

Prints every event of one opportunity, oldest first: when (in the configured time zone), who (the client
name behind the secret), the request id, and each field's old and new value.

Options:
${DATABASE_HELP}
  -h, --help         show this help

Exit code: 0, or 1 when no opportunity has that code.`;

const show = (value: unknown) => (value === null || value === undefined ? "—" : typeof value === "string" ? value : canonicalJson(value));

export async function history(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: DATABASE_OPTIONS, strict: true, allowPositionals: true });
  if (values.help) {
    process.stdout.write(`${HISTORY_HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("history takes exactly one opportunity code; see history --help");
  const code = positionals[0]!.trim();
  const settings = databaseSettings(values, env);
  const db = openExistingDatabase(settings.dbPath);
  try {
    const events = readStream(db, code);
    if (events.length === 0) {
      process.stderr.write(`商机不存在: ${code}\n`);
      return 1;
    }
    const lines = [`${code}: ${events.length} event(s)`, ""];
    for (const entry of events.map(toHistoryEntry)) {
      const when = formatZonedDateTime(Date.parse(entry.recordedAt), settings.timeZone);
      lines.push(`v${entry.version}  ${when}  ${entry.type}  by ${entry.actor}  (position ${entry.position}, request ${entry.requestId})`);
      const width = Math.max(0, ...entry.changes.map((change) => change.field.length));
      for (const change of entry.changes) lines.push(`    ${change.field.padEnd(width)}  ${show(change.from)} → ${show(change.to)}`);
      if (entry.changes.length === 0) lines.push("    (no field changes)");
      lines.push("");
    }
    process.stdout.write(lines.join("\n"));
    return 0;
  } finally {
    db.close();
  }
}
