import { parseArgs } from "node:util";
import { rebuildOpportunities } from "../storage/sqlite/projection-rebuild";
import { openExistingDatabase, DATABASE_HELP, DATABASE_OPTIONS, databaseSettings, parseThreads, UsageError, THREADS_HELP, THREADS_OPTION } from "./shared-options";
import { parseDatabaseLocation } from "../storage/location";
import { mapForWholeStoreRead } from "../storage/sqlite/database";
import { openPostgresAsIs } from "./command-storage";

export const REBUILD_HELP = `Usage: opportunity-service rebuild [options]

Recreates the opportunities table from the events alone, in one transaction: a running service keeps
answering reads from the old table until the new one is committed, and its writes wait for the switch.
Repairs any drift between the table and the events (see 'verify'). On PostgreSQL the transaction holds the
head row's lock, which every instance's writes take first: none can interleave, and a write that waits longer
than its lock timeout (5 s) is answered 503 and may be retried. Over a large SQLite store the fold is shared
out among threads, each over a range of opportunities; the output says how many folded.

Options:
${THREADS_HELP}
${DATABASE_HELP}
  -h, --help         show this help`;

export async function rebuild(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args, options: { ...DATABASE_OPTIONS, ...THREADS_OPTION }, strict: true });
  if (values.help) {
    process.stdout.write(`${REBUILD_HELP}\n`);
    return 0;
  }
  const settings = databaseSettings(values, env);
  const threads = parseThreads(values.threads);
  const location = parseDatabaseLocation(settings.dbPath);
  const started = performance.now();
  const report = (result: { opportunities: number; events: number; threads?: number }) => {
    const seconds = (performance.now() - started) / 1000;
    const shared = result.threads === undefined ? "" : ` (${result.threads} thread${result.threads === 1 ? "" : "s"})`;
    process.stdout.write(`rebuilt ${result.opportunities} opportunities from ${result.events} events in ${seconds.toFixed(2)} s${shared}\n`);
    return 0;
  };
  if (location.kind === "postgres") {
    if (threads !== undefined) throw new UsageError("--threads is for a SQLite database (on PostgreSQL the events are read through one connection)");
    const storage = await openPostgresAsIs(location.url);
    try {
      return report(await storage.rebuildProjection());
    } finally {
      await storage.close();
    }
  }
  const db = openExistingDatabase(location.path);
  try {
    mapForWholeStoreRead(db);
    return report(rebuildOpportunities(db, { threads }));
  } finally {
    db.close();
  }
}
