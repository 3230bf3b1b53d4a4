import { backup, BACKUP_HELP } from "./cli/backup";
import { exportEvents, EXPORT_HELP } from "./cli/export";
import { history, HISTORY_HELP } from "./cli/history";
import { importFile, IMPORT_HELP } from "./cli/import";
import { rebuild, REBUILD_HELP } from "./cli/rebuild";
import { restore, RESTORE_HELP } from "./cli/restore";
import { serve, SERVE_HELP } from "./cli/serve";
import { verify, VERIFY_HELP } from "./cli/verify";
import { UsageError } from "./cli/shared-options";
import { escapeForTerminal } from "./cli/terminal-text";
import { ConfigError } from "./settings";
import { BUILD_COMMIT, VERSION } from "./version";

const HELP = `opportunity-service ${VERSION}: the CRM opportunity update interface, event-sourced on SQLite or PostgreSQL

Usage: opportunity-service <command> [options]

Commands:
  serve          run the HTTP service (PUT /api/opportunities/integration/update, docs at /swagger)
  import FILE    create opportunities in bulk from an NDJSON file
  export         write the events as NDJSON (full rows with hashes) for auditors and backups
  verify         check the hash chain, every update against its history, and the projection; print the head
  rebuild        recreate the opportunities table from the events
  history CODE   print one opportunity's changes: who, when, from what to what
  restore FILE   build a new database from an export, checking every hash
  backup PATH    write a verified copy of the live database (SQLite: a database file; PostgreSQL: an NDJSON export)

All commands take --config FILE (the file serve takes; env CONFIG_FILE: each command reads the settings it uses
and ignores the others). All but restore take --db (a SQLite file, or a postgres:// URL; env DB_PATH, then
DATABASE_URL, then the config file), and work on a live database while the service runs; restore's --db NEW is
only ever given on its command line.

Run 'opportunity-service <command> --help' for a command's options.
  -h, --help     show this help
  -v, --version  print the version`;

const commands: Record<string, { run: (args: string[], env: NodeJS.ProcessEnv) => Promise<number>; help: string }> = {
  serve: { run: serve, help: SERVE_HELP },
  import: { run: importFile, help: IMPORT_HELP },
  export: { run: exportEvents, help: EXPORT_HELP },
  verify: { run: verify, help: VERIFY_HELP },
  rebuild: { run: rebuild, help: REBUILD_HELP },
  history: { run: history, help: HISTORY_HELP },
  restore: { run: restore, help: RESTORE_HELP },
  backup: { run: backup, help: BACKUP_HELP },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === "-v" || name === "--version") {
    process.stdout.write(`opportunity-service ${VERSION} (commit ${BUILD_COMMIT})\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`unknown command: ${escapeForTerminal(name)}\n\n${HELP}\n`);
    return 2;
  }
  try {
    return await command.run(rest, process.env);
  } catch (error) {
    // parseArgs reports unknown or malformed flags with a code; both are usage errors, not crashes.
    const code = (error as { code?: string }).code;
    if (code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`error: ${escapeForTerminal((error as Error).message)}\n\n${command.help}\n`);
      return 2;
    }
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`error: ${escapeForTerminal(error.message)}\n(see 'opportunity-service ${name} --help')\n`);
      return 2;
    }
    process.stderr.write(`error: ${escapeForTerminal((error as Error).message)}\n`);
    return 1;
  }
}

// No top-level await: the release build compiles to bytecode, which needs a CommonJS-shaped entry point.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`error: ${escapeForTerminal((error as Error).message)}\n`);
    process.exitCode = 1;
  },
);
