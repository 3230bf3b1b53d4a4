import { asStorageError, StorageUnavailableError } from "../../storage-errors";

/**
 * Which SQLite failures mean "the database cannot take the write now" (disk full, read-only file, I/O error, the
 * write lock held past the busy timeout): storage-errors.ts knows SQLite's result codes, and these are thrown as
 * StorageUnavailableError (HTTP 503, nothing of the batch written). Anything else is a bug and passes unchanged.
 */
export const asSqliteStorageError = (error: unknown): unknown => asStorageError(error);

/** Whether the write failed only because another connection held the write lock: nothing was written. */
export const lockWasHeld = (error: unknown): boolean => error instanceof StorageUnavailableError && error.lockHeld;
