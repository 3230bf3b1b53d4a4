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

const PREFIX = "opportunity_test_";
/** A test database this old was left by a run that was killed before its afterAll: nothing uses it any more. */
const STALE_MS = 6 * 3_600_000;

/** Drops the test databases of killed runs (their name starts with the time they were made, in base 36). */
async function dropStale(admin: SQL): Promise<void> {
  const rows: { datname: string }[] = await admin`SELECT datname FROM pg_database WHERE datname LIKE ${`${PREFIX}%`}`;
  for (const { datname } of rows) {
    const made = parseInt(datname.slice(PREFIX.length).split("_")[0] ?? "", 36);
    if (Number.isFinite(made) && Date.now() - made > STALE_MS) await admin.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  }
}

/** Creates a fresh, empty database; fails loudly, with the way to start PostgreSQL, when the server is not there. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `${PREFIX}${Date.now().toString(36)}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = adminClient();
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`).catch((error: unknown) => {
      throw new Error(`PostgreSQL is not reachable at ${maskPassword(TEST_DATABASE_URL)} (${(error as { code?: string }).code ?? ""} ${(error as Error).message}): ${START_HINT}`, { cause: error });
    });
    await dropStale(admin);
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
