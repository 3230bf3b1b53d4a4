import { parseArgs } from "node:util";
import { parseHead, type Head } from "../../events/verify-chain";
import { verifyReportLines } from "../audit/verify-report-lines";
import { verifyAuditReads, verifyStore, type VerifyReport } from "../audit/verify-store";
import { parseDatabaseLocation } from "../storage/location";
import { mapForWholeStoreRead } from "../storage/sqlite/database";
import { openReadOnlyDatabase, DATABASE_HELP, DATABASE_OPTIONS, databaseSettings, parseThreads, THREADS_HELP, THREADS_OPTION, UsageError } from "./shared-options";
import { openPostgresAsIs } from "./command-storage";
import { escapeForTerminal } from "./terminal-text";

export const VERIFY_HELP = `Usage: opportunity-service verify [--expect-head POSITION:HASH] [options]

Checks the database's own structure. A SQLite file: its integrity (integrity_check) and schema (every table,
constraint and index this binary relies on, and the append-only triggers of the events table with their
definitions). PostgreSQL: the append-only trigger (UPDATE, DELETE, TRUNCATE) present, enabled and defined as
this binary defines it, no other trigger, the primary keys and unique constraints, the event_head row equal to
the last event, and the schema version. Then
walks the event chain from position 1: positions have no gaps, every prev_hash links to the previous hash,
every hash recomputes from its row, every column is one the service could have written (event id, type and
schema version, data against its schema, metadata, recorded_at), every update's "previous" values equal the
state folded from the events before it; and the opportunities table equals a fresh fold of all events; and
every answer stored for an Idempotency-Key (what a retry is served) follows from the events.
Prints the head (POSITION:HASH), the same on both backends for the same events: keep it outside the database,
and pass it back later with --expect-head, so that events removed from the end are caught too. Safe on a live
database: it reads one consistent snapshot (PostgreSQL: one REPEATABLE READ, READ ONLY transaction) and writes
nothing (a SQLite file is opened read-only, so it may be on a read-only mount). Over a large SQLite store the
walk is shared out among threads, each over a range of opportunities; where it finds anything wrong, it walks
again in position order, which names every finding.

Options:
  --expect-head P:H  also fail unless the chain still holds position P with hash H
${THREADS_HELP}
${DATABASE_HELP}
  -h, --help         show this help

Exit code: 0 when everything holds; 1 when something does not: every finding is printed as one
"FAILED at <position N | table T | schema | database>: <why>" line (control characters escaped).`;

function printReport(report: VerifyReport): number {
  process.stdout.write(`${verifyReportLines(report).join("\n")}\n`);
  return report.ok ? 0 : 1;
}

export async function verify(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args, options: { ...DATABASE_OPTIONS, ...THREADS_OPTION, "expect-head": { type: "string" } }, strict: true });
  if (values.help) {
    process.stdout.write(`${VERIFY_HELP}\n`);
    return 0;
  }
  const settings = databaseSettings(values, env);
  let expectHead: Head | undefined;
  if (values["expect-head"] !== undefined) {
    expectHead = parseHead(values["expect-head"]) ?? undefined;
    if (!expectHead) throw new UsageError(`--expect-head must be POSITION:HASH (a number, a colon, 64 hex digits), got ${escapeForTerminal(values["expect-head"])}`);
  }
  const threads = parseThreads(values.threads);
  const location = parseDatabaseLocation(settings.dbPath);
  if (location.kind === "postgres") {
    if (threads !== undefined) throw new UsageError("--threads is for a SQLite database (on PostgreSQL the events are read through one connection)");
    const storage = await openPostgresAsIs(location.url);
    try {
      return printReport(await storage.audit((reads) => verifyAuditReads(reads, { expectHead })));
    } finally {
      await storage.close();
    }
  }
  const db = openReadOnlyDatabase(location.path);
  try {
    mapForWholeStoreRead(db);
    // One read transaction: the chain, the fold and the projection are all seen at the same instant.
    return printReport(db.transaction(() => verifyStore(db, { expectHead }, { threads }))());
  } finally {
    db.close();
  }
}
