import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { formatHead } from "../../events/verify-chain";
import { restoreExport } from "../audit/restore-export";
import { UsageError } from "./shared-options";

export const RESTORE_HELP = `Usage: opportunity-service restore FILE --db NEW

Builds a new database from an export (see 'export'): checks every line's columns and every hash and link of
the chain on the way, rebuilds the opportunities table from the events, then verifies the whole database and
prints its head, which equals the head of the database that was exported. NEW must not exist yet: restore never
writes over a database. On any problem nothing is left behind and the line and position are named.

Options:
  --db NEW           the database file to create (required; DB_PATH is not read, so the service's own
                     database can never be the target by accident)
  -h, --help         show this help

Exit code: 0 when restored and verified, 1 when the export is not intact, 2 on a usage error.`;

export async function restore(args: string[], _env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { db: { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: true });
  if (values.help) {
    process.stdout.write(`${RESTORE_HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("restore takes exactly one FILE (an export)");
  if (!values.db) throw new UsageError("restore needs --db NEW, the database to create");
  const file = positionals[0]!;
  if (!existsSync(file)) throw new UsageError(`cannot read ${file}: no such file`);
  if (existsSync(values.db)) throw new UsageError(`${values.db} already exists: restore only creates a new database`);
  const result = await restoreExport(file, values.db);
  if (!result.ok) {
    process.stderr.write(`restore failed: ${result.reason}\n${values.db} was not created.\n`);
    return 1;
  }
  process.stdout.write(`restored ${result.events} events, ${result.opportunities} opportunities into ${values.db}\nhead ${formatHead(result.head)}\n`);
  return 0;
}
