import type { Database } from "bun:sqlite";
import { SCHEMA_VERSION, schemaVersionOf } from "./schema-migrations";
import type { StorageUnavailableError } from "./storage-errors";

/**
 * Whether the service can take writes now: the database answers, its schema is the one this binary writes,
 * and a tiny write commits. After a write failed for lack of storage (disk full, read-only file), the next
 * check that commits shows space is back, and the service is ready again without a restart.
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
      // A real committed write, however small: rewriting user_version with its own value goes through the
      // WAL, so a read-only file or connection, a full disk or a held lock all show here.
      db.transaction(() => db.run(`PRAGMA user_version = ${version}`)).immediate();
      this.storageFailure = null;
      return null;
    } catch (error) {
      const code = (error as { code?: string }).code ?? this.storageFailure ?? "";
      return `数据库不可写${code ? ` (${code})` : ""}: ${(error as Error).message}`;
    }
  }
}

/** One readiness check of a database with no history of failed writes (a fresh Readiness). */
export function readinessProblem(db: Database): string | null {
  return new Readiness(db).problem();
}
