import type { Database } from "bun:sqlite";
import { openDatabase } from "../events/database";
import { EventStore } from "../events/event-store";
import { SCHEMA_VERSIONS } from "../events/opportunity-events";
import { OpportunitiesTable } from "../projections/opportunities-table";
import { IdempotencyKeys } from "./idempotency";
import { OpportunityWriter, type WriterOptions } from "./opportunity-writer";
import { migrate } from "./schema-migrations";

/** The database with its event store, projection and write path wired together: what serve and import share. */
export interface ServiceStore {
  db: Database;
  store: EventStore;
  opportunities: OpportunitiesTable;
  writer: OpportunityWriter;
  /** Checkpoints the WAL (when it can) and closes; says whether the checkpoint ran. */
  close(): { checkpointed: boolean; checkpointError?: string };
}

/** Opens (creating or upgrading) the database; throws SchemaTooNewError for a database of a newer binary. */
export function openServiceStore(path: string, options: { now?: () => Date; writer?: WriterOptions } = {}): ServiceStore {
  const db = openDatabase(path);
  try {
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  const opportunities = new OpportunitiesTable(db);
  const store = new EventStore(db, {
    projectors: [opportunities.projector()],
    schemaVersionOf: (type) => SCHEMA_VERSIONS[type as keyof typeof SCHEMA_VERSIONS] ?? 1,
    now: options.now,
  });
  const writer = new OpportunityWriter(store, opportunities, new IdempotencyKeys(db), { now: options.now, ...options.writer });
  return {
    db,
    store,
    opportunities,
    writer,
    close() {
      // Fold the WAL back into the database file so a copied .db file is complete on its own. Housekeeping
      // only: every commit is already durable in the WAL, so a checkpoint that cannot run (disk full) must not
      // stop the database from closing; SQLite replays the WAL at the next open.
      let checkpointError: string | undefined;
      try {
        db.run("PRAGMA wal_checkpoint(TRUNCATE)");
      } catch (error) {
        checkpointError = (error as Error).message;
      }
      opportunities.finalize();
      db.close();
      return { checkpointed: checkpointError === undefined, checkpointError };
    },
  };
}
