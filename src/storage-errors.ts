/**
 * Errors that mean "the database cannot take writes right now" (disk full, read-only file, lock held too long,
 * I/O failure), as opposed to bugs. The request gets HTTP 503 and a clear message, the transaction has rolled
 * back, readiness turns red, and the service recovers by itself when the cause goes away.
 */
const UNAVAILABLE = /^SQLITE_(FULL|READONLY|BUSY|LOCKED|IOERR|CANTOPEN|PROTOCOL|NOLFS)/;

export class StorageUnavailableError extends Error {
  constructor(
    /** SQLite's code (SQLITE_FULL…), or PostgreSQL's SQLSTATE or Bun client code (57P01, ERR_POSTGRES_CONNECTION_CLOSED…). */
    readonly code: string,
    cause: unknown,
  ) {
    // Said for reads too (a command that only reads cannot reach the database either): not only about writes.
    super(`database unavailable: ${code}`, { cause });
    this.name = "StorageUnavailableError";
  }

  /** The same as `code`: the name from before PostgreSQL, still read by the SQLite paths. */
  get sqliteCode(): string {
    return this.code;
  }

  /** Another connection held the lock past the busy (SQLite) or lock (PostgreSQL 55P03) timeout: nothing is wrong with the storage itself. */
  get lockHeld(): boolean {
    return /^SQLITE_(BUSY|LOCKED)|^55P03$/.test(this.code);
  }

  /** What integrators read: Chinese, saying what happened and that a retry later is the remedy. */
  get userMessage(): string {
    if (this.code.startsWith("SQLITE_FULL") || this.code === "53100") return "数据库磁盘空间已满，本次修改未保存，请稍后重试";
    if (this.code.startsWith("SQLITE_READONLY")) return "数据库当前为只读，本次修改未保存，请稍后重试";
    if (this.lockHeld) return "数据库繁忙，本次修改未保存，请稍后重试";
    if (!this.code.startsWith("SQLITE_")) return "数据库暂时无法连接，本次修改未保存，请稍后重试";
    return "数据库暂时无法写入，本次修改未保存，请稍后重试";
  }
}

/** The SQLite code of an error if it is a storage failure, else null. */
export function storageErrorCode(error: unknown): string | null {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" && UNAVAILABLE.test(code) ? code : null;
}

/** Wraps a storage failure as StorageUnavailableError; anything else passes through unchanged. */
export function asStorageError(error: unknown): unknown {
  if (error instanceof StorageUnavailableError) return error;
  const code = storageErrorCode(error);
  return code ? new StorageUnavailableError(code, error) : error;
}
