import type { Database } from "bun:sqlite";
import { accessSync, constants, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { SCHEMA_VERSION, schemaVersionOf } from "./storage/sqlite/schema";
import type { StorageUnavailableError } from "./storage-errors";

/**
 * Whether the service can take writes now, for /readyz. A probe must never write, take the write lock or wait
 * for it: a flood of unauthenticated probes once cut updates by 98% (each ran BEGIN IMMEDIATE and an fsync), and
 * while `import` or `rebuild` held the lock every probe froze the event loop for the busy timeout. So writability
 * is learnt from the writer's own outcomes (a failed commit turns it red, the next commit green), and checked
 * without writing: the schema version is read, the files are asked for write access, the filesystem for free
 * space. A red state clears by itself when the cause is gone (space freed, files writable again, or for a held
 * lock a little time passed), so a service that the load balancer stopped sending writes to recovers too.
 * A "ready" answer is kept briefly, so that probes cost nothing however often they come; a red one is looked at
 * anew each time (a few system calls), so that recovery shows at once.
 */
export interface StorageProbe {
  /** Bytes an ordinary writer may still use on the database's filesystem. */
  freeBytes(): number;
  /** Null when the database file, its WAL and its directory accept writes; else what does not. */
  unwritable(): string | null;
}

/** The probe of a database file: access(2) and statfs(2), no write. */
export function fileProbe(dbPath: string): StorageProbe {
  const wal = `${dbPath}-wal`;
  const targets = [dbPath, wal, dirname(dbPath)];
  return {
    freeBytes() {
      const stats = statfsSync(dirname(dbPath));
      return stats.bavail * stats.bsize;
    },
    unwritable() {
      for (const target of targets) {
        try {
          accessSync(target, constants.W_OK);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          // A WAL that does not exist yet is made by the next write; the directory's access decides.
          if (!(code === "ENOENT" && target === wal)) return `${target}: ${code}`;
        }
      }
      return null;
    },
  };
}

/** Free space a disk-full failure must see come back before the service says it is ready again. */
export const SPACE_TO_RECOVER = 256 * 1024;
/** After a write failed on a held lock, how long the service stays red before it lets a write try again. */
export const LOCK_HOLD_DOWN_MS = 5_000;
const CACHE_MS = 250;

interface Failure {
  code: string;
  at: number;
  freeAtFailure: number;
}

export interface ReadinessOptions {
  now?: () => number;
  cacheMs?: number;
}

export class Readiness {
  private failure: Failure | null = null;
  private readyAt: number | null = null;
  private readonly now: () => number;
  private readonly cacheMs: number;

  constructor(
    private readonly db: Database,
    private readonly probe: StorageProbe,
    options: ReadinessOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.cacheMs = options.cacheMs ?? CACHE_MS;
  }

  noteStorageFailure(error: StorageUnavailableError): void {
    let freeAtFailure = 0;
    try {
      freeAtFailure = this.probe.freeBytes();
    } catch {
      // Unknown: any free space seen later counts against 0.
    }
    this.failure = { code: error.sqliteCode, at: this.now(), freeAtFailure };
    this.readyAt = null;
  }

  /** On the hot path of every commit: one comparison. */
  noteCommit(): void {
    if (this.failure !== null) this.failure = null;
  }

  /** Null when ready, else why not (in Chinese, for /readyz). */
  problem(): string | null {
    const now = this.now();
    if (this.readyAt !== null && now - this.readyAt < this.cacheMs) return null;
    const problem = this.check(now);
    this.readyAt = problem === null ? now : null;
    return problem;
  }

  private check(now: number): string | null {
    try {
      const version = schemaVersionOf(this.db);
      if (version !== SCHEMA_VERSION) return `数据库结构版本为 ${version}，本程序需要 ${SCHEMA_VERSION}`;
      const unwritable = this.probe.unwritable();
      if (unwritable !== null) return `数据库不可写 (${this.failure?.code ?? "EACCES"}): ${unwritable}`;
      if (this.failure !== null && !this.recovered(this.failure, now)) return `数据库不可写 (${this.failure.code}): 最近一次写入失败，原因尚未消除`;
      this.failure = null;
      return null;
    } catch (error) {
      const code = (error as { code?: string }).code ?? this.failure?.code ?? "";
      return `数据库不可读${code ? ` (${code})` : ""}: ${(error as Error).message}`;
    }
  }

  /** Whether the cause of the last failed write looks gone, judged without writing. */
  private recovered(failure: Failure, now: number): boolean {
    if (/^SQLITE_(BUSY|LOCKED)/.test(failure.code)) return now - failure.at >= LOCK_HOLD_DOWN_MS;
    if (failure.code.startsWith("SQLITE_FULL")) return this.probe.freeBytes() >= failure.freeAtFailure + SPACE_TO_RECOVER;
    // Read-only files, I/O errors: writable files (checked above) are all that can be seen without writing.
    return true;
  }
}

/** One readiness check of a database file with no history of failed writes (a fresh Readiness). */
export function readinessProblem(db: Database, dbPath = db.filename): string | null {
  return new Readiness(db, fileProbe(dbPath), { cacheMs: 0 }).problem();
}
