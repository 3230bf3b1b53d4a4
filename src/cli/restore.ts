import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { formatHead } from "../../events/verify-chain";
import { MAX_NDJSON_LINE_BYTES } from "../audit/ndjson-lines";
import { restoreExport, restoreExportToPostgres } from "../audit/restore-export";
import { resolveSettings } from "../settings";
import { maskPassword, parseDatabaseLocation, type DatabaseLocation } from "../storage/location";
import { UsageError } from "./shared-options";
import { openPostgresAsIs } from "./command-storage";
import { escapeForTerminal } from "./terminal-text";

export const RESTORE_HELP = `Usage: opportunity-service restore FILE --db NEW

Builds a new database from an export (see 'export'): checks every line's columns (as 'verify' does) and every
hash and link of the chain on the way, rebuilds the opportunities table from the events, then verifies the
whole database and prints its head, which equals the head of the database that was exported. Lines end at \n
(or \r\n) only, are UTF-8 (a byte order mark at the start is skipped) and at most ${MAX_NDJSON_LINE_BYTES / 1048576} MiB long.
NEW is a SQLite file or a postgres:// URL (password masked in every message); an export taken on one backend
restores into the other with the same head.
A SQLite file NEW must not exist yet: restore never writes over a database. It is built as .NEW.restoring-PID
beside NEW and renamed to NEW only when complete: on any problem nothing is left behind and the line and
position are named; a restore killed midway leaves only that file, which can be deleted.
A PostgreSQL database NEW must be empty (no events, opportunities or idempotency keys, no tables of anything
else): restore only creates a new database. The schema, the events, the head row and the projection are
written in one transaction, so a failed or killed restore leaves the database as it was.

Options:
  --db NEW           the SQLite file to create, or the empty PostgreSQL database's URL (required; DB_PATH,
                     DATABASE_URL and the config file's db are not read, so the service's own database can never
                     be the target by accident)
  --config FILE      the JSON config file serve takes (env CONFIG_FILE): accepted like every command, checked for
                     unknown keys, but restore reads none of its settings
  -h, --help         show this help

Exit code: 0 when restored and verified, 1 when the export is not intact, 2 on a usage error.`;

export async function restore(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { db: { type: "string" }, config: { type: "string" }, help: { type: "boolean", short: "h" } },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${RESTORE_HELP}\n`);
    return 0;
  }
  // The same file as every command: an unknown key is still an error, though restore uses no setting of it.
  resolveSettings([], { config: values.config }, env);
  if (positionals.length !== 1) throw new UsageError("restore takes exactly one FILE (an export)");
  if (!values.db) throw new UsageError("restore needs --db NEW, the database to create");
  const file = positionals[0]!;
  if (!existsSync(file)) throw new UsageError(`cannot read ${file}: no such file`);
  const location = targetLocation(values.db);
  if (location.kind === "postgres") return restorePostgres(file, location.url);
  if (existsSync(values.db)) throw new UsageError(`${values.db} already exists: restore only creates a new database`);
  const result = await restoreExport(file, values.db);
  if (!result.ok) {
    process.stderr.write(`restore failed: ${escapeForTerminal(result.reason)}\n${escapeForTerminal(values.db)} was not created.\n`);
    return 1;
  }
  process.stdout.write(`restored ${result.events} events, ${result.opportunities} opportunities into ${escapeForTerminal(values.db)}\nhead ${formatHead(result.head)}\n`);
  return 0;
}

/** The --db NEW a restore writes to; one it cannot be (a URL of another scheme, an in-memory database) is a usage error. */
function targetLocation(text: string): DatabaseLocation {
  try {
    return parseDatabaseLocation(text);
  } catch (error) {
    throw new UsageError(`invalid --db: ${JSON.stringify(maskPassword(text))} ${(error as Error).message}`);
  }
}

async function restorePostgres(file: string, url: string): Promise<number> {
  const storage = await openPostgresAsIs(url);
  try {
    const result = await restoreExportToPostgres(file, storage);
    if (!result.ok) {
      process.stderr.write(`restore failed: ${escapeForTerminal(result.reason)}\nnothing was written to ${escapeForTerminal(storage.location)}.\n`);
      return 1;
    }
    process.stdout.write(`restored ${result.events} events, ${result.opportunities} opportunities into ${escapeForTerminal(storage.location)}\nhead ${formatHead(result.head)}\n`);
    return 0;
  } finally {
    await storage.close();
  }
}
