import type { Database } from "bun:sqlite";
import { SCHEMA_VERSION, schemaVersionOf } from "./schema-migrations";
import type { StorageUnavailableError } from "./storage-errors";

/**
 * Whether the service can take writes now: the database answers, its schema is the one this binary writes,
 * the write lock can be taken, and the last write did not fail for lack of storage. After such a failure
 * (disk full, read-only file) each readiness check commits a tiny write of its own: when it goes through,
 * space is back and the service is ready again without a restart.
 */
export class Readiness {
  private storageFailure: string | null = null;

  constructor(private readonly db: Database) {}

  noteStorageFailure(error: StorageUnavailableError): void {
    this.storageFailure = error.sqliteCode;
  }

  noteCommit(): void {
    this.storageFailure = null;
  }

  /** Null when ready, else why not (in Chinese, for /readyz). */
  problem(): string | null {
    const db = this.db;
    try {
      const version = schemaVersionOf(db);
      if (version !== SCHEMA_VERSION) return `数据库结构版本为 ${version}，本程序需要 ${SCHEMA_VERSION}`;
      db.run("BEGIN IMMEDIATE");
      // Rewriting user_version with its own value is a real write to the WAL: it fails while the disk is full.
      if (this.storageFailure !== null) db.run(`PRAGMA user_version = ${version}`);
      db.run(this.storageFailure !== null ? "COMMIT" : "ROLLBACK");
      this.storageFailure = null;
      return null;
    } catch (error) {
      if (db.inTransaction) db.run("ROLLBACK");
      const code = (error as { code?: string }).code ?? this.storageFailure ?? "";
      return `数据库不可写${code ? ` (${code})` : ""}: ${(error as Error).message}`;
    }
  }
}

/** One readiness check of a database with no history of failed writes (a fresh Readiness). */
export function readinessProblem(db: Database): string | null {
  return new Readiness(db).problem();
}
