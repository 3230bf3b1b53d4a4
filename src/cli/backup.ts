import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { formatHead } from "../../events/verify-chain";
import { backupDatabase, backupToExport } from "../backup";
import { parseDatabaseLocation } from "../storage/location";
import { escapeForTerminal } from "./terminal-text";
import { DATABASE_HELP, DATABASE_OPTIONS, databaseSettings, openExistingDatabase, UsageError } from "./shared-options";
import { openPostgresAsIs } from "./command-storage";

export const BACKUP_HELP = `Usage: opportunity-service backup PATH [options]

Writes a consistent copy of the database to PATH while the service keeps running, verifies it and prints its
head. PATH must not exist.
SQLite: a copy of the file (VACUUM INTO: one snapshot of every committed event and the projection), verified
like 'verify' does. To restore, stop the service and put the copy in place of the database file (remove any
old -wal and -shm files beside it), or point --db at the copy.
PostgreSQL: an NDJSON export of every event up to the head at the start (as 'export' writes it), written under
a temporary name beside PATH, read back through the checks of 'restore' (every column, hash and link, and its
last hash equal to that head), then renamed to PATH. Restore it with 'restore PATH --db NEW' into an empty
PostgreSQL database or a new SQLite file. It holds the events (the projection is rebuilt from them, stored
idempotency answers are not kept); pg_dump remains the tool for backing up the whole database.

Options:
${DATABASE_HELP}
  -h, --help         show this help

Exit code: 0 when the copy is written and verifies; 1 when it does not (the copy is removed); 2 on a usage error.`;

export async function backup(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: DATABASE_OPTIONS, strict: true, allowPositionals: true });
  if (values.help) {
    process.stdout.write(`${BACKUP_HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("backup takes exactly one PATH, the copy to write");
  const target = positionals[0]!;
  if (existsSync(target)) throw new UsageError(`${target} already exists: backup never writes over a file`);
  const settings = databaseSettings(values, env);
  const location = parseDatabaseLocation(settings.dbPath);
  if (location.kind === "postgres") {
    const storage = await openPostgresAsIs(location.url);
    try {
      const result = await backupToExport(storage, target);
      if (!result.ok) {
        process.stderr.write(`backup failed: ${escapeForTerminal(result.reason)}\n`);
        return 1;
      }
      process.stdout.write(
        `backed up ${escapeForTerminal(storage.location)} to ${escapeForTerminal(target)} (${(result.bytes / 1048576).toFixed(1)} MiB NDJSON export): ` +
          `${result.events} events, ${result.opportunities} opportunities, verified\nhead ${formatHead(result.head)}\n`,
      );
      return 0;
    } finally {
      await storage.close();
    }
  }
  const db = openExistingDatabase(location.path);
  try {
    const result = backupDatabase(db, target);
    if (!result.ok) {
      process.stderr.write(`backup failed: ${escapeForTerminal(result.reason)}\n`);
      return 1;
    }
    process.stdout.write(
      `backed up ${escapeForTerminal(settings.dbPath)} to ${escapeForTerminal(target)} (${(result.bytes / 1048576).toFixed(1)} MiB): ` +
        `${result.report.events} events, ${result.report.opportunities} opportunities, verified\nhead ${formatHead(result.report.head)}\n`,
    );
    return 0;
  } finally {
    db.close();
  }
}
