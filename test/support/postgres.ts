/**
 * The PostgreSQL test database: each test file (or each open of a storage contract test) gets a database of its
 * own under a random name, dropped at the end. The server is given by TEST_DATABASE_URL, default the machine's
 * PostgreSQL 15 with trust authentication. When it cannot be reached the tests FAIL, saying how to start it:
 * a PostgreSQL test that skips itself silently would let a broken backend pass.
 */
import { SQL } from "bun";
import { maskPassword } from "../../src/storage/location";

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

const START_HINT = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start (or point TEST_DATABASE_URL at a running server)";

/** The same server URL naming another database. */
export function urlOfDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** A client of the server's maintenance database (the one TEST_DATABASE_URL names), for CREATE/DROP DATABASE. */
function adminClient(): SQL {
  return new SQL({ url: TEST_DATABASE_URL, database: new URL(TEST_DATABASE_URL).pathname.slice(1) || "postgres", max: 1, connectionTimeout: 5 });
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Creates a fresh, empty database; fails loudly, with the way to start PostgreSQL, when the server is not there. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `opportunity_test_${Date.now().toString(36)}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = adminClient();
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } catch (error) {
    throw new Error(`PostgreSQL is not reachable at ${maskPassword(TEST_DATABASE_URL)} (${(error as { code?: string }).code ?? ""} ${(error as Error).message}): ${START_HINT}`, { cause: error });
  } finally {
    await admin.close();
  }
  let dropped = false;
  return {
    name,
    url: urlOfDatabase(TEST_DATABASE_URL, name),
    async drop() {
      if (dropped) return;
      dropped = true;
      const client = adminClient();
      try {
        // FORCE ends the sessions a failed test left open, so that a failure never leaves a database behind.
        await client.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.close();
      }
    },
  };
}

/** Test databases a file created, dropped together from afterAll even when a test failed half-way. */
export class TestDatabases {
  private readonly created: TestDatabase[] = [];

  async create(): Promise<TestDatabase> {
    const database = await createTestDatabase();
    this.created.push(database);
    return database;
  }

  async dropAll(): Promise<void> {
    await Promise.all(this.created.splice(0).map((database) => database.drop()));
  }
}
