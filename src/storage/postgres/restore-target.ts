import type { TransactionSQL } from "bun";
import type { EventRow } from "../../../events/stored-event";
import { TargetNotEmptyError, type Head, type RestoreTarget } from "../port";
import { insertEvents, lockHead } from "./batch-commit";
import { listOpportunities } from "./opportunity-rows";
import { rewriteOpportunities } from "./projection-rebuild";
import { migrateIn } from "./schema";

const OWN_TABLES = new Set(["events", "event_head", "opportunities", "idempotency_keys", "idempotency_key_counts", "schema_version"]);
const NOT_EMPTY = "restore only creates a new database";

/**
 * Makes `tx` a restore into an empty database: refuses a database holding tables of anything else, or any
 * event, opportunity or idempotency key of ours (a schema made by a start of the service with no data is
 * empty); creates the schema in `tx` and takes the head row's lock, so that a service started meanwhile waits.
 */
export async function restoreTarget(tx: TransactionSQL, location: string): Promise<RestoreTarget> {
  const tables: { name: string }[] = await tx`SELECT relname AS name FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p', 'v', 'm')`;
  const foreign = tables.map((table) => table.name).filter((name) => !OWN_TABLES.has(name));
  if (foreign.length > 0) throw new TargetNotEmptyError(`${location} is not empty (it holds ${foreign.slice(0, 5).join(", ")}): ${NOT_EMPTY}`);
  await migrateIn(tx);
  await lockHead(tx);
  const [held] = await tx`
    SELECT (SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1) e) + (SELECT count(*) FROM (SELECT 1 FROM opportunities LIMIT 1) o)
      + (SELECT count(*) FROM (SELECT 1 FROM idempotency_keys LIMIT 1) k) AS n`;
  if (Number(held.n) > 0) throw new TargetNotEmptyError(`${location} already holds data: ${NOT_EMPTY}`);
  return {
    async appendRows(rows: readonly EventRow[]) {
      if (rows.length > 0) await insertEvents(tx, rows);
    },
    async finish(head: Head | null) {
      if (head) await tx`UPDATE event_head SET position = ${head.position}, hash = ${head.hash}`;
      await rewriteOpportunities(tx);
      return listOpportunities(tx);
    },
  };
}
