import { createReadStream } from "node:fs";
import { basename } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { parseExactJson } from "../../events/exact-json";
import { ERROR_SEPARATOR, parseCreateBody, type CreateOpportunity } from "../commands";
import { openServiceStore } from "../service-store";
import { loadStageDictionary } from "../stage-dictionary";
import { DATABASE_HELP, DATABASE_OPTIONS, databaseSettings, UsageError } from "./shared-options";

export const IMPORT_HELP = `Usage: opportunity-service import FILE [options]

Creates opportunities in bulk from NDJSON: one create body per line, the same fields and rules as
POST /api/opportunities/integration/create. Blank lines are skipped. Every rejected line is reported with its
line number on stderr; the other lines are created. Events record the actor "import".

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

  const input = createReadStream(file, { encoding: "utf8" });
  const opened = new Promise<void>((resolve, reject) => {
    input.once("open", () => resolve());
    input.once("error", (error) => reject(new UsageError(`cannot read ${file}: ${error.message}`)));
  });
  await opened;

  const service = openServiceStore(settings.dbPath);
  const source = basename(file);
  let created = 0;
  let rejected = 0;
  const reject = (line: number, message: string) => {
    rejected += 1;
    process.stderr.write(`line ${line}: ${message}\n`);
  };
  let pending: PendingLine[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const results = await service.writer.executeMany(
      batch.map((item) => ({ command: item.command, metadata: { actor: "import", requestId: `${source}:${item.line}` } })),
    );
    results.forEach((result, index) => {
      if (result.ok) created += 1;
      else reject(batch[index]!.line, result.message);
    });
  };

  try {
    let lineNumber = 0;
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      lineNumber += 1;
      if (text.trim() === "") continue;
      let body: unknown;
      try {
        body = parseExactJson(text);
      } catch {
        reject(lineNumber, "不是合法的 JSON");
        continue;
      }
      const parsed = parseCreateBody(body, context);
      if (!parsed.ok) {
        reject(lineNumber, parsed.errors.join(ERROR_SEPARATOR));
        continue;
      }
      pending.push({ line: lineNumber, command: parsed.command });
      if (pending.length >= BATCH_SIZE) await flush();
    }
    await flush();
  } finally {
    service.close();
  }
  process.stdout.write(`imported ${file}: ${created} created, ${rejected} rejected\n`);
  return rejected === 0 ? 0 : 1;
}
