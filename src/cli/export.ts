import { parseArgs } from "node:util";
import { exportChunks } from "../audit/export-events";
import { openCommandStorage } from "./command-storage";
import { DATABASE_HELP, DATABASE_OPTIONS, databaseSettings, UsageError } from "./shared-options";

export const EXPORT_HELP = `Usage: opportunity-service export [--after N] [--to N] [options] > events.ndjson

Writes the events as NDJSON on stdout, in position order: one line per event, the full stored row (every
column, data and metadata as their stored canonical JSON text, prev_hash and hash), so the chain can be checked
by anyone and the file restored with 'restore'. Safe on a live database: events never change, and the export
stops at the head it saw when it started (or at --to). Opens the database read-only (it may be on a read-only
mount).

Options:
  --after N          start after position N (default 0: from the first event)
  --to N             stop at position N, inclusive (default: the head when the export starts)
${DATABASE_HELP}
  -h, --help         show this help`;

function position(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} must be a whole number, got ${text}`);
  return Number(text);
}

export async function exportEvents(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args, options: { ...DATABASE_OPTIONS, after: { type: "string" }, to: { type: "string" } }, strict: true });
  if (values.help) {
    process.stdout.write(`${EXPORT_HELP}\n`);
    return 0;
  }
  const settings = databaseSettings(values, env);
  const after = position("after", values.after);
  const to = position("to", values.to);
  const storage = await openCommandStorage(settings, { readOnly: true });
  try {
    const out = Bun.stdout.writer();
    for await (const chunk of exportChunks(storage, { after, to })) {
      out.write(chunk);
      await out.flush();
    }
  } finally {
    await storage.close();
  }
  return 0;
}
