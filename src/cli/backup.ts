import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { formatHead } from "../../events/verify-chain";
import { backupDatabase } from "../backup";
import { escapeForTerminal } from "./terminal-text";
import { DATABASE_HELP, DATABASE_OPTIONS, databaseSettings, openExistingDatabase, UsageError } from "./shared-options";
import { sqliteFileOnly } from "./command-storage";

export const BACKUP_HELP = `Usage: opportunity-service backup PATH [options]

Writes a consistent copy of the database to PATH while the service keeps running (SQLite VACUUM INTO: one
snapshot of every committed event and the projection), then verifies the copy like 'verify' does and prints
its head. PATH must not exist. To restore, stop the service and put the copy in place of the database file
(remove any old -wal and -shm files beside it), or point --db at the copy.

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
  const db = openExistingDatabase(sqliteFileOnly(settings, "backup"));
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
