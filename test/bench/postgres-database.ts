/**
 * A PostgreSQL database for one benchmark mode: fresh, on the server of TEST_DATABASE_URL (made and dropped by
 * the test fixture), seeded with the same opportunities as the SQLite benchmark database, dropped afterwards.
 */
import { SQL } from "bun";
import { createTestDatabase, TEST_DATABASE_URL } from "../support/postgres";
import { importSeed, type BenchDatabase } from "./load";

export const postgresDatabase =
  (binary: string) =>
  async (seed: string): Promise<BenchDatabase> => {
    const database = await createTestDatabase();
    try {
      await importSeed(binary, seed, database.url);
    } catch (error) {
      await database.drop();
      throw error;
    }
    return { location: database.url, postgresName: database.name, drop: () => database.drop() };
  };

/** "PostgreSQL 15.x (synchronous_commit on)" of the server the benchmark databases are made on. */
export async function describePostgres(): Promise<string> {
  const sql = new SQL({ url: TEST_DATABASE_URL, database: new URL(TEST_DATABASE_URL).pathname.slice(1) || "postgres", max: 1 });
  try {
    const [row] = await sql`SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS sync, current_setting('fsync') AS fsync`;
    return `PostgreSQL ${row.version} (synchronous_commit ${row.sync}, fsync ${row.fsync}: each answer after its commit is on disk)`;
  } finally {
    await sql.close();
  }
}
