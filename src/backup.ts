import type { Database } from "bun:sqlite";
import { existsSync, rmSync } from "node:fs";
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
