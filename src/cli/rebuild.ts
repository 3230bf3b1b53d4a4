import { parseArgs } from "node:util";
import { rebuildOpportunities } from "../storage/sqlite/projection-rebuild";
import { openExistingDatabase, DATABASE_HELP, DATABASE_OPTIONS, databaseSettings } from "./shared-options";
import { parseDatabaseLocation } from "../storage/location";
import { openPostgresAsIs } from "./command-storage";

export const REBUILD_HELP = `Usage: opportunity-service rebuild [options]

Recreates the opportunities table from the events alone, in one transaction: a running service keeps
answering reads from the old table until the new one is committed, and its writes wait for the switch.
Repairs any drift between the table and the events (see 'verify'). On PostgreSQL the transaction holds the
head row's lock, which every instance's writes take first: none can interleave, and a write that waits longer
than its lock timeout (5 s) is answered 503 and may be retried.

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
  const location = parseDatabaseLocation(settings.dbPath);
  const started = performance.now();
  const report = (result: { opportunities: number; events: number }) => {
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`rebuilt ${result.opportunities} opportunities from ${result.events} events in ${seconds.toFixed(2)} s\n`);
    return 0;
  };
  if (location.kind === "postgres") {
    const storage = await openPostgresAsIs(location.url);
    try {
      return report(await storage.rebuildProjection());
    } finally {
      await storage.close();
    }
  }
  const db = openExistingDatabase(location.path);
  try {
    return report(rebuildOpportunities(db));
  } finally {
    db.close();
  }
}
