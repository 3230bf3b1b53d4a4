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

/** The location a setting names; throws an Error saying why a URL cannot be used. */
export function parseDatabaseLocation(text: string): DatabaseLocation {
  const scheme = URL_SCHEME.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: "sqlite", path: text };
  if (!POSTGRES_SCHEMES.has(scheme)) throw new Error(`is a URL of an unsupported scheme (${scheme}:); give a SQLite file path`);
  return { kind: "postgres", url: text };
}

/** The text with the password of any URL in it replaced by `***`: what logs and error messages may show. */
export function maskPassword(text: string): string {
  return text.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/[^:@/?#\s"]*:)[^@/?#\s"]*@/g, "$1***@");
}
