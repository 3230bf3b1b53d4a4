import { StorageUnavailableError } from "../../storage-errors";

/**
 * Which PostgreSQL failures mean "the database cannot take this write now" (HTTP 503 with Retry-After, readiness
 * red, recovery by itself) rather than a bug, and which mean "run the batch again". Bun's client reports the
 * server's SQLSTATE in `errno` and its own failures (a refused or lost connection) in `code`.
 *
 * Unavailable: connection exceptions (class 08), insufficient resources (53: disk full, out of memory, too many
 * connections), the server shutting down or restarting (57P01–57P03), a lock not granted in lock_timeout
 * (55P03: another instance holds the head row too long), a statement cancelled (57014: statement_timeout or an
 * operator's pg_cancel_backend), and a transaction ended by idle_in_transaction_session_timeout (25P03).
 */
const UNAVAILABLE_STATE = /^(08|53)[0-9A-Z]{3}$|^57P0[123]$|^55P03$|^57014$|^25P03$/;
const UNAVAILABLE_CLIENT_CODE = /^ERR_POSTGRES_(CONNECTION_[A-Z_]+|IDLE_TIMEOUT|LIFETIME_TIMEOUT)$/;

/** Serialization failure and deadlock: the transaction was rolled back whole and may simply run again. */
const RETRY_STATES = new Set(["40001", "40P01"]);

/** The SQLSTATE or client code of a failure that means "unavailable", else null. */
export function postgresUnavailableCode(error: unknown): string | null {
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
  if (typeof errno === "string" && UNAVAILABLE_STATE.test(errno)) return errno;
  if (typeof code === "string" && UNAVAILABLE_CLIENT_CODE.test(code)) return code;
  return null;
}

/** Whether the failed transaction was rolled back by the server for a reason that another run can avoid. */
export function isRetryable(error: unknown): boolean {
  const errno = (error as { errno?: unknown } | null)?.errno;
  return typeof errno === "string" && RETRY_STATES.has(errno);
}

/** A failure as the layers above expect it: StorageUnavailableError when the database is unavailable, else as is. */
export function asPostgresStorageError(error: unknown): unknown {
  if (error instanceof StorageUnavailableError) return error;
  const code = postgresUnavailableCode(error);
  return code ? new StorageUnavailableError(code, error) : error;
}

/** Runs `work`, turning an unavailable database into StorageUnavailableError (reads and writes alike). */
export async function unavailableAsStorageError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw asPostgresStorageError(error);
  }
}
