import { closeSync, openSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { parseExactJsonBody } from "../../events/exact-json";
import { MAX_NDJSON_LINE_BYTES, ndjsonFileLines, type NdjsonLine } from "../audit/ndjson-lines";
import { ERROR_SEPARATOR, parseCreateBody, type CreateOpportunity } from "../commands";
import type { FieldContext } from "../field-rules";
import { escapeForTerminal } from "./terminal-text";
import { commandWriter, openCommandStorage } from "./command-storage";
import { loadStageDictionary } from "../stage-dictionary";
import { DATABASE_HELP, DATABASE_OPTIONS, databaseSettings, UsageError } from "./shared-options";

export const IMPORT_HELP = `Usage: opportunity-service import FILE [options]

Creates opportunities in bulk from NDJSON: one create body per line, the same fields and rules as
POST /api/opportunities/integration/create. Lines end at \n (or \r\n) only, are UTF-8 (a byte order mark at
the start is skipped) and at most ${MAX_NDJSON_LINE_BYTES / 1048576} MiB long. Blank lines are skipped. Every
rejected line (invalid JSON or UTF-8, too long, or breaking a field rule) is reported with its line number on
stderr; the other lines are created. Events record the actor "import".

Options:
${DATABASE_HELP}
  -h, --help         show this help

Exit code: 0 when every line was created, 1 when some were rejected, 2 on a usage or file error.`;

// Lines are committed in batches: one transaction (and one fsync) per batch, not per line.
const BATCH_SIZE = 500;

interface PendingLine {
  line: number;
  command: CreateOpportunity;
}

const LINE_PROBLEMS = {
  utf8: "不是合法的 UTF-8 文本",
  length: `超过 ${MAX_NDJSON_LINE_BYTES / 1048576} MiB，未读取`,
} as const;

/** One line as a create command, or why not; null for a blank line. Messages as HTTP would answer them. */
function parseLine(line: NdjsonLine, context: FieldContext): { ok: true; command: CreateOpportunity } | { ok: false; message: string } | null {
  if ("problem" in line) return { ok: false, message: LINE_PROBLEMS[line.kind] };
  if (line.text.trim() === "") return null;
  let body: unknown;
  try {
    body = parseExactJsonBody(line.text);
  } catch {
    return { ok: false, message: "不是合法的 JSON" };
  }
  const parsed = parseCreateBody(body, context);
  return parsed.ok ? { ok: true, command: parsed.command } : { ok: false, message: parsed.errors.join(ERROR_SEPARATOR) };
}

export async function importFile(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: DATABASE_OPTIONS, strict: true, allowPositionals: true });
  if (values.help) {
    process.stdout.write(`${IMPORT_HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("import takes exactly one FILE (NDJSON); see import --help");
  const file = positionals[0]!;
  const settings = databaseSettings(values, env);
  const context = { stages: loadStageDictionary(settings.stagesFile), timeZone: settings.timeZone };

  try {
    closeSync(openSync(file, "r"));
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }

  const storage = await openCommandStorage(settings, { create: true });
  const writer = commandWriter(storage);
  const source = basename(file);
  let created = 0;
  let rejected = 0;
  const reject = (line: number, message: string) => {
    rejected += 1;
    process.stderr.write(`line ${line}: ${escapeForTerminal(message)}\n`);
  };
  let pending: PendingLine[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const results = await writer.executeMany(
      batch.map((item) => ({ command: item.command, metadata: { actor: "import", requestId: `${source}:${item.line}` } })),
    );
    results.forEach((result, index) => {
      if (result.ok) created += 1;
      else reject(batch[index]!.line, result.message);
    });
  };

  try {
    for await (const line of ndjsonFileLines(file)) {
      const parsed = parseLine(line, context);
      if (parsed === null) continue;
      if (!parsed.ok) {
        reject(line.number, parsed.message);
        continue;
      }
      pending.push({ line: line.number, command: parsed.command });
      if (pending.length >= BATCH_SIZE) await flush();
    }
    await flush();
  } finally {
    await storage.close();
  }
  process.stdout.write(`imported ${escapeForTerminal(file)}: ${created} created, ${rejected} rejected\n`);
  return rejected === 0 ? 0 : 1;
}
