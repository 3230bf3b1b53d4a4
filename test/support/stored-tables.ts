/**
 * What a test reads (or tampers with) in the service's tables directly, on either backend: the check that a
 * write left exactly what it should, beside what the port answers. Queries are written in the SQL both
 * backends speak, with `?` placeholders; 64-bit integers come back as bigint on both (SQLite: every integer;
 * PostgreSQL: int8 columns, and COUNT(*)), so that a test compares exact values and never a rounded double.
 */
import type { Database } from "bun:sqlite";
import { SQL } from "bun";

export interface StoredTables {
  select<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>;
  /** A statement that changes rows (a tampering test); nothing is returned. */
  run(query: string, params?: unknown[]): Promise<void>;
  /** COUNT(*) of a table, as a number. */
  count(table: string): Promise<number>;
  close(): Promise<void>;
}

/** The tables of a SQLite database, on the service's own connection (closed with it). */
export function sqliteTables(db: Database): StoredTables {
  const tables: StoredTables = {
    async select<T>(query: string, params: unknown[] = []) {
      return db.prepare(query).safeIntegers(true).all(...(params as never[])) as T[];
    },
    async run(query, params = []) {
      db.run(query, params as never[]);
    },
    count: (table) => countOf(tables, table),
    async close() {},
  };
  return tables;
}

/** `?` placeholders as PostgreSQL's `$1, $2, ...` (the test queries hold no `?` inside a string literal). */
function numberedPlaceholders(query: string): string {
  let index = 0;
  return query.replace(/\?/g, () => `$${++index}`);
}

/** The tables of a PostgreSQL database, on a connection of the test's own. */
export function postgresTables(url: string): StoredTables {
  const sql = new SQL({ url, database: decodeURIComponent(new URL(url).pathname.slice(1)), max: 1, bigint: true });
  const tables: StoredTables = {
    async select<T>(query: string, params: unknown[] = []) {
      return [...(await sql.unsafe(numberedPlaceholders(query), params))] as T[];
    },
    async run(query, params = []) {
      await sql.unsafe(numberedPlaceholders(query), params);
    },
    count: (table) => countOf(tables, table),
    close: () => sql.close(),
  };
  return tables;
}

async function countOf(tables: StoredTables, table: string): Promise<number> {
  const [row] = await tables.select<{ n: bigint }>(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(row!.n);
}
