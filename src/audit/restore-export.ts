import { createReadStream, existsSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { prepareInsert } from "../../events/append";
import { openDatabase } from "../../events/database";
import { createEventTable } from "../../events/event-table";
import { toEventRow } from "../../events/event-row-shape";
import type { EventRow } from "../../events/stored-event";
import type { Head } from "../../events/verify-chain";
import { OpportunitiesTable } from "../../projections/opportunities-table";
import { rebuildOpportunities } from "../../projections/rebuild";
import { StoreAuditor } from "./verify-store";

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
    const insertBatch = db.transaction((lines: { row: EventRow; line: number }[]) => {
      for (const { row, line } of lines) {
        try {
          insert.run(row);
        } catch (error) {
          throw new RestoreError(`line ${line}, position ${row.position}: ${(error as Error).message}`);
        }
      }
    });
    const auditor = new StoreAuditor();
    let batch: { row: EventRow; line: number }[] = [];
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
      const problem = auditor.checkRow(row);
      if (problem) throw new RestoreError(`line ${lineNumber}, position ${problem.position}: ${problem.reason}`);
      batch.push({ row, line: lineNumber });
      if (batch.length >= BATCH) {
        insertBatch.immediate(batch);
        batch = [];
      }
    }
    insertBatch.immediate(batch);
    if (auditor.checked === 0) throw new RestoreError(`${file} holds no events`);

    rebuildOpportunities(db);
    const table = new OpportunitiesTable(db);
    const drift = auditor.checkProjection(table);
    table.finalize();
    if (drift) throw new RestoreError(`the rebuilt projection does not match the events: ${drift.reason}`);
    db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
    return { ok: true, events: auditor.checked, opportunities: auditor.states.size, head: auditor.head };
  } catch (error) {
    db.close();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${target}${suffix}`, { force: true });
    if (error instanceof RestoreError) return { ok: false, reason: error.message };
    throw error;
  }
}
