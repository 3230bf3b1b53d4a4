/**
 * Where the data lives, as given in `--db` / `DB_PATH` / config `db`: a SQLite file path, or a database URL.
 * A value with a URL scheme is never taken for a file path: `--db postgres://…` once silently created a local
 * SQLite file named `postgres:` and answered success, so an operator believed the data was in PostgreSQL.
 */
const URL_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
const POSTGRES_SCHEMES = new Set(["postgres", "postgresql"]);

export type DatabaseLocation = { kind: "sqlite"; path: string } | { kind: "postgres"; url: string };

/** Whether the text starts with a URL scheme (`name://`). */
export const isUrl = (text: string) => URL_SCHEME.test(text);

/**
 * SQLite's names for a database that is no file. Each connection opening one gets a database of its own: the
 * service's writer and checkpointer threads (and a verify's range threads) would each see a different, empty
 * store, so writes acknowledged by one were missing from the reads of another; and nothing outlives the process.
 */
const NOT_A_FILE = new Set([":memory:", ""]);

/** The location a setting names; throws an Error saying why a URL or an in-memory database cannot be used. */
export function parseDatabaseLocation(text: string): DatabaseLocation {
  const scheme = URL_SCHEME.exec(text)?.[1]?.toLowerCase();
  if (NOT_A_FILE.has(text)) {
    throw new Error(`is not a file: SQLite's in-memory database would be a different one on each of the service's connections, and gone at exit; give a file path`);
  }
  if (scheme === undefined) return { kind: "sqlite", path: text };
  if (!POSTGRES_SCHEMES.has(scheme)) throw new Error(`is a URL of an unsupported scheme (${scheme}:); give a SQLite file path`);
  return { kind: "postgres", url: text };
}

/** The text with the password of any URL in it replaced by `***`: what logs and error messages may show. */
export function maskPassword(text: string): string {
  return text.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/[^:@/?#\s"]*:)[^@/?#\s"]*@/g, "$1***@");
}
