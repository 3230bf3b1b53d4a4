import { createReadStream, existsSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { prepareInsert } from "../../events/append";
import { openDatabase } from "../../events/database";
import { createEventTable } from "../../events/event-table";
import { toEventRow } from "../../events/event-row-shape";
import type { EventRow } from "../../events/stored-event";
import { ChainWalker, type Head } from "../../events/verify-chain";
import { rebuildOpportunities } from "../../projections/rebuild";
import { verifyStore } from "./verify-store";

export type RestoreResult = { ok: true; events: number; opportunities: number; head: Head | null } | { ok: false; reason: string };

const BATCH = 10_000;

class RestoreError extends Error {}

/**
 * Builds a new database at `target` from an NDJSON export, checking every row's shape and every hash and link
 * as it goes, then rebuilds the projection and verifies the whole. `target` must not exist; when anything
 * fails, nothing is left at `target`.
 */
export async function restoreExport(file: string, target: string): Promise<RestoreResult> {
  if (existsSync(target)) return { ok: false, reason: `${target} already exists: restore only creates a new database` };
  const db = openDatabase(target);
  try {
    createEventTable(db);
    const insert = prepareInsert(db);
    const insertBatch = db.transaction((rows: EventRow[]) => {
      for (const row of rows) insert.run(row);
    });
    const walker = new ChainWalker();
    let batch: EventRow[] = [];
    let lineNumber = 0;
    for await (const line of createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity })) {
      lineNumber += 1;
      if (line.trim() === "") continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new RestoreError(`line ${lineNumber}: not valid JSON`);
      }
      const row = toEventRow(parsed);
      if (typeof row === "string") throw new RestoreError(`line ${lineNumber}: ${row}`);
      const problem = walker.check(row);
      if (problem) throw new RestoreError(`line ${lineNumber}, position ${problem.position}: ${problem.reason}`);
      batch.push(row);
      if (batch.length >= BATCH) {
        insertBatch.immediate(batch);
        batch = [];
      }
    }
    insertBatch.immediate(batch);
    if (walker.count === 0) throw new RestoreError(`${file} holds no events`);

    rebuildOpportunities(db);
    const report = verifyStore(db);
    if (!report.ok) throw new RestoreError(`the restored events do not verify: position ${report.problem!.position}: ${report.problem!.reason}`);
    db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
    return { ok: true, events: report.events, opportunities: report.opportunities, head: report.head };
  } catch (error) {
    db.close();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${target}${suffix}`, { force: true });
    if (error instanceof RestoreError) return { ok: false, reason: error.message };
    throw error;
  }
}
