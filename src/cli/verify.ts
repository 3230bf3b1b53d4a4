import { parseArgs } from "node:util";
import { formatHead, parseHead, type Head } from "../../events/verify-chain";
import { verifyStore } from "../audit/verify-store";
import { openExistingDatabase, DATABASE_HELP, DATABASE_OPTIONS, databaseSettings, UsageError } from "./shared-options";

export const VERIFY_HELP = `Usage: opportunity-service verify [--expect-head POSITION:HASH] [options]

Walks the event chain from position 1 and checks that positions have no gaps, every prev_hash links to the
previous hash, every hash recomputes from its row, every update's "previous" values equal the state folded
from the events before it, and the opportunities table equals a fresh fold of all events. Prints the head
(POSITION:HASH): keep it outside the database, and pass it back later with --expect-head, so that events
removed from the end are caught too. Safe on a live database (it reads one consistent snapshot).

Options:
  --expect-head P:H  also fail unless the chain still holds position P with hash H
${DATABASE_HELP}
  -h, --help         show this help

Exit code: 0 when everything holds; 1 when something does not (the first bad position and why are printed).`;

export async function verify(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args, options: { ...DATABASE_OPTIONS, "expect-head": { type: "string" } }, strict: true });
  if (values.help) {
    process.stdout.write(`${VERIFY_HELP}\n`);
    return 0;
  }
  const settings = databaseSettings(values, env);
  let expectHead: Head | undefined;
  if (values["expect-head"] !== undefined) {
    expectHead = parseHead(values["expect-head"]) ?? undefined;
    if (!expectHead) throw new UsageError(`--expect-head must be POSITION:HASH (a number, a colon, 64 hex digits), got ${values["expect-head"]}`);
  }
  const db = openExistingDatabase(settings.dbPath);
  try {
    // One read transaction: the chain, the fold and the projection are all seen at the same instant.
    const report = db.transaction(() => verifyStore(db, { expectHead }))();
    if (report.ok) {
      process.stdout.write(
        `OK: ${report.events} events, ${report.opportunities} opportunities; chain intact, updates consistent, projection matches\n` +
          `head ${formatHead(report.head)}\n`,
      );
      return 0;
    }
    const where = report.problem!.position > 0 ? `position ${report.problem!.position}` : "projection";
    process.stdout.write(`FAILED at ${where}: ${report.problem!.reason}\n(the ${report.events} events before it are sound)\n`);
    return 1;
  } finally {
    db.close();
  }
}
