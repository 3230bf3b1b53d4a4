import { parseArgs } from "node:util";
import { rebuildOpportunities } from "../storage/sqlite/projection-rebuild";
import { openExistingDatabase, DATABASE_HELP, DATABASE_OPTIONS, databaseSettings } from "./shared-options";
import { sqliteFileOnly } from "./command-storage";

export const REBUILD_HELP = `Usage: opportunity-service rebuild [options]

Recreates the opportunities table from the events alone, in one transaction: a running service keeps
answering reads from the old table until the new one is committed, and its writes wait for the switch.
Repairs any drift between the table and the events (see 'verify').

Options:
${DATABASE_HELP}
  -h, --help         show this help`;

export async function rebuild(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args, options: DATABASE_OPTIONS, strict: true });
  if (values.help) {
    process.stdout.write(`${REBUILD_HELP}\n`);
    return 0;
  }
  const settings = databaseSettings(values, env);
  const db = openExistingDatabase(sqliteFileOnly(settings, "rebuild"));
  try {
    const started = performance.now();
    const { opportunities, events } = rebuildOpportunities(db);
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`rebuilt ${opportunities} opportunities from ${events} events in ${seconds.toFixed(2)} s\n`);
    return 0;
  } finally {
    db.close();
  }
}
