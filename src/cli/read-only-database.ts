import { constants, Database } from "bun:sqlite";
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { openDatabase } from "../storage/sqlite/database";

/** Fails at the first read when SQLite cannot open the file, so the open is proven by one. */
function probe(db: Database): void {
  db.query("SELECT count(*) FROM sqlite_master").get();
}

const hasWalContent = (path: string) => existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0;

/** `file:` URI of a path, every character outside the unreserved set percent-encoded. */
const fileUri = (path: string) => `file:${encodeURI(resolve(path)).replace(/[?#]/g, encodeURIComponent)}`;

/**
 * Opens a database for reading only, also where auditors are often given one: a read-only mount. SQLite opens
 * a WAL database read-only only when its -shm file exists or can be created; in a directory it cannot write to,
 * a database with no write-ahead log left (the service closed cleanly, or a restored file) is opened as
 * immutable instead: nothing can change it there. A log with content in such a directory cannot be read safely
 * (immutable would ignore it, and the events in it), so that is refused with what to do.
 */
export function openReadOnly(path: string): Database {
  let db: Database | undefined;
  try {
    db = openDatabase(path, { readonly: true });
    probe(db);
    return db;
  } catch (error) {
    db?.close();
    // Only "cannot create the -shm here" is what immutable answers; anything else (a busy or damaged file) is not.
    const code = String((error as { code?: unknown }).code ?? "");
    if (!code.startsWith("SQLITE_CANTOPEN") && !code.startsWith("SQLITE_READONLY")) throw new Error(`cannot open ${path} read-only: ${(error as Error).message}`);
    if (hasWalContent(path)) {
      throw new Error(
        `cannot open ${path} read-only: ${(error as Error).message}. Its write-ahead log (${path}-wal) holds changes that SQLite ` +
          "can only read with a -shm file beside it, which this directory does not let it create: copy the database with its " +
          "-wal file to a writable directory, or give the directory back write access",
      );
    }
  }
  const immutable = new Database(`${fileUri(path)}?immutable=1`, constants.SQLITE_OPEN_READONLY | constants.SQLITE_OPEN_URI);
  try {
    probe(immutable);
  } catch (error) {
    immutable.close();
    throw new Error(`cannot open ${path} read-only: ${(error as Error).message}`);
  }
  return immutable;
}
