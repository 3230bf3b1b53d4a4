import type { Database } from "bun:sqlite";
import { existsSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Head } from "../events/verify-chain";
import { exportChunks } from "./audit/export-events";
import { checkExportFile, publish } from "./audit/restore-export";
import type { EventReads } from "./storage/port";
import { openDatabase } from "./storage/sqlite/database";
import { verifyStore, type VerifyReport } from "./audit/verify-store";

export type BackupResult = { ok: true; report: VerifyReport; bytes: number } | { ok: false; reason: string };

/**
 * Writes a consistent copy of a live database to `target` with `VACUUM INTO` (one read snapshot: every
 * committed event and its projection, nothing half-written; the service keeps writing meanwhile), then
 * verifies the copy the way an auditor would. A copy that does not verify is removed.
 */
export function backupDatabase(db: Database, target: string): BackupResult {
  if (existsSync(target)) return { ok: false, reason: `${target} already exists: backup never writes over a file` };
  db.run("VACUUM INTO ?", [target]);
  const copy = openDatabase(target);
  try {
    const report = copy.transaction(() => verifyStore(copy))();
    copy.run("PRAGMA wal_checkpoint(TRUNCATE)");
    copy.close();
    if (!report.ok) {
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${target}${suffix}`, { force: true });
      const findings = report.findings.map((finding) => `at ${finding.at}: ${finding.reason}`);
      return { ok: false, reason: `the copy does not verify: ${findings.join("; ")}` };
    }
    return { ok: true, report, bytes: Bun.file(target).size };
  } catch (error) {
    copy.close();
    throw error;
  }
}

export type ExportBackupResult = { ok: true; events: number; opportunities: number; head: Head; bytes: number } | { ok: false; reason: string };

/**
 * The backup of a PostgreSQL database: a verified NDJSON export (what `restore` takes, into either backend).
 * Written beside `target` under a temporary name up to the head read at the start (events never change once
 * written, so the pages need no long transaction), synced, read back through the same checks as a restore (and
 * its last hash must be that head), then put in place in one step. A copy that does not verify is removed.
 * pg_dump remains the tool for the whole database (idempotency keys, roles, settings); this is the events.
 */
export async function backupToExport(storage: EventReads, target: string): Promise<ExportBackupResult> {
  if (existsSync(target)) return { ok: false, reason: `${target} already exists: backup never writes over a file` };
  const head = await storage.head();
  if (!head) return { ok: false, reason: "the database holds no events: there is nothing to back up" };
  const staging = join(dirname(target), `.${basename(target)}.backup-${process.pid}`);
  try {
    await writeExport(storage, staging, head.position);
    const checked = await checkExportFile(staging);
    if (!checked.ok) throw new Error(`the copy does not verify: ${checked.reason}`);
    if (checked.head?.position !== head.position || checked.head.hash !== head.hash) {
      throw new Error(`the copy ends at ${checked.head?.position}:${checked.head?.hash}, not at the head ${head.position}:${head.hash} it was taken at`);
    }
    const bytes = Bun.file(staging).size;
    publish(staging, target, "backup never writes over a file");
    return { ok: true, events: checked.events, opportunities: checked.opportunities, head, bytes };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  } finally {
    rmSync(staging, { force: true });
  }
}

async function writeExport(storage: EventReads, path: string, to: number): Promise<void> {
  const file = await open(path, "wx", 0o600);
  try {
    for await (const chunk of exportChunks(storage, { to })) await file.write(chunk);
    await file.sync();
  } finally {
    await file.close();
  }
}
