import type { Database } from "bun:sqlite";
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { openDatabase } from "../storage/sqlite/database";
import { toEventRow } from "../../events/event-row-shape";
import type { EventRow } from "../../events/stored-event";
import type { Head } from "../../events/verify-chain";
import { OpportunitiesTable } from "../storage/sqlite/opportunity-rows";
import { rebuildOpportunities } from "../storage/sqlite/projection-rebuild";
import { prepareEventInsert } from "../storage/sqlite/batch-commit";
import { migrate } from "../storage/sqlite/schema";
import { ndjsonFileLines } from "./ndjson-lines";
import { TargetNotEmptyError } from "../storage/port";
import type { PostgresStorage } from "../storage/postgres/storage";
import { StoreAuditor } from "./verify-store";

export type RestoreResult = { ok: true; events: number; opportunities: number; head: Head | null } | { ok: false; reason: string };

const BATCH = 10_000;

class RestoreError extends Error {}

/** Where a restore builds its database: beside the target (same file system, so it can be linked into place). */
export function stagingPathOf(target: string): string {
  return join(dirname(target), `.${basename(target)}.restoring-${process.pid}`);
}

const removeDatabaseFiles = (path: string) => {
  for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(`${path}${suffix}`, { force: true });
};

/**
 * Builds a new database at `target` from an NDJSON export, checking every row's columns and every hash and link
 * as it goes, then rebuilds the projection and verifies the whole. The database is built under another name
 * beside `target` and linked into place only when complete, so a restore that fails or is killed midway never
 * leaves a partial database at `target`. `target` must not exist.
 */
export async function restoreExport(file: string, target: string): Promise<RestoreResult> {
  if (existsSync(target)) return { ok: false, reason: `${target} already exists: restore only creates a new database` };
  mkdirSync(dirname(target), { recursive: true });
  const staging = stagingPathOf(target);
  removeDatabaseFiles(staging);
  let db: Database | undefined = openDatabase(staging);
  try {
    migrate(db);
    const auditor = await loadEvents(db, file);
    checkProjection(db, auditor);
    // A rollback journal, not WAL: the file holds everything by itself, so it can be moved, and opened on a
    // read-only mount without a -shm file.
    db.run("PRAGMA journal_mode = DELETE");
    db.close(true);
    db = undefined;
    publish(staging, target);
    return { ok: true, events: auditor.checked, opportunities: auditor.states.size, head: auditor.head };
  } catch (error) {
    db?.close();
    removeDatabaseFiles(staging);
    if (error instanceof RestoreError) return { ok: false, reason: error.message };
    throw error;
  }
}

/** Reads, checks and inserts every line of the export, in batches of one transaction each. */
async function loadEvents(db: Database, file: string): Promise<StoreAuditor> {
  const insert = prepareEventInsert(db);
  const insertBatch = db.transaction((lines: CheckedLine[]) => {
    for (const { row, line } of lines) {
      try {
        insert.run(row);
      } catch (error) {
        throw new RestoreError(`line ${line}, position ${row.position}: ${(error as Error).message}`);
      }
    }
  });
  const auditor = new StoreAuditor();
  try {
    for await (const batch of checkedBatches(file, auditor)) insertBatch.immediate(batch);
  } finally {
    insert.finalize();
  }
  return auditor;
}

interface CheckedLine {
  row: EventRow;
  line: number;
}

/**
 * Every line of the export, checked by `auditor` as it is read (columns, hashes, links, each event against its
 * stream's folded state), in batches; stops at the first problem, naming the line and position. The last batch
 * may be empty; an export without events is refused after it. The same check for every backend and for backup.
 */
export async function* checkedBatches(file: string, auditor: StoreAuditor): AsyncGenerator<CheckedLine[]> {
  let batch: CheckedLine[] = [];
  for await (const line of ndjsonFileLines(file)) {
    if ("problem" in line) throw new RestoreError(`line ${line.number}: ${line.problem}`);
    if (line.text.trim() === "") continue;
    const row = parseRow(line.text, line.number);
    const problem = auditor.checkRow(row);
    if (problem) throw new RestoreError(`line ${line.number}, position ${problem.position}: ${problem.reason}`);
    batch.push({ row, line: line.number });
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  yield batch;
  if (auditor.checked === 0) throw new RestoreError(`${file} holds no events`);
}

/** Reads an export through the same checks without storing it: `backup` verifies the file it wrote this way. */
export async function checkExportFile(file: string): Promise<RestoreResult> {
  const auditor = new StoreAuditor();
  try {
    for await (const _batch of checkedBatches(file, auditor));
  } catch (error) {
    if (error instanceof RestoreError) return { ok: false, reason: error.message };
    throw error;
  }
  return { ok: true, events: auditor.checked, opportunities: auditor.states.size, head: auditor.head };
}

/**
 * Restores an export into an empty PostgreSQL database, in one transaction (see PostgresStorage.restoreInto):
 * every line checked as on SQLite, the rows inserted, the head row set, the projection built from the stored
 * events and checked against the auditor's fold. A failure, or a kill, leaves the database as it was.
 */
export async function restoreExportToPostgres(file: string, storage: PostgresStorage): Promise<RestoreResult> {
  try {
    return await storage.restoreInto(async (target) => {
      const auditor = new StoreAuditor();
      for await (const batch of checkedBatches(file, auditor)) {
        try {
          await target.appendRows(batch.map((line) => line.row));
        } catch (error) {
          const first = batch[0]!;
          throw new RestoreError(`lines ${first.line} to ${batch[batch.length - 1]!.line} (from position ${first.row.position}): ${(error as Error).message}`);
        }
      }
      const rows = await target.finish(auditor.head);
      const drift = auditor.checkProjection({ list: () => rows });
      if (drift.length > 0) throw new RestoreError(`the rebuilt projection does not match the events: ${drift[0]!.reason}`);
      return { ok: true as const, events: auditor.checked, opportunities: auditor.states.size, head: auditor.head };
    });
  } catch (error) {
    if (error instanceof RestoreError || error instanceof TargetNotEmptyError) return { ok: false, reason: error.message };
    throw error;
  }
}

function parseRow(text: string, lineNumber: number): EventRow {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RestoreError(`line ${lineNumber}: not valid JSON`);
  }
  const row = toEventRow(parsed);
  if (typeof row === "string") throw new RestoreError(`line ${lineNumber}: ${row}`);
  return row;
}

/** Rebuilds the projection from the loaded events; it must equal the fold the auditor made while loading. */
function checkProjection(db: Database, auditor: StoreAuditor): void {
  try {
    rebuildOpportunities(db);
  } catch (error) {
    throw new RestoreError(`the opportunities table cannot be rebuilt from the events: ${(error as Error).message}`);
  }
  const table = new OpportunitiesTable(db);
  try {
    const drift = auditor.checkProjection(table);
    if (drift.length > 0) throw new RestoreError(`the rebuilt projection does not match the events: ${drift[0]!.reason}`);
  } finally {
    table.finalize();
  }
}

/**
 * Puts the finished file at `target` in one step. A hard link fails if `target` appeared meanwhile (rename
 * would silently replace it); the directory is synced so the new name survives a power loss.
 */
export function publish(staging: string, target: string, refusal = "restore only creates a new database"): void {
  const file = openSync(staging, "r");
  try {
    fsyncSync(file);
  } finally {
    closeSync(file);
  }
  try {
    linkSync(staging, target);
    unlinkSync(staging);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new RestoreError(`${target} already exists: ${refusal}`);
    // A file system without hard links: rename, having checked the name is still free.
    if (existsSync(target)) throw new RestoreError(`${target} already exists: ${refusal}`);
    renameSync(staging, target);
  }
  const directory = openSync(dirname(target), "r");
  try {
    fsyncSync(directory);
  } finally {
    closeSync(directory);
  }
}
