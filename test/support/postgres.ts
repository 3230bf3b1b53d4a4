/**
 * The PostgreSQL test database: each test (or each open of a storage contract test) gets an empty database of
 * its own under a random name. The server is given by TEST_DATABASE_URL, default the machine's PostgreSQL 15
 * with trust authentication. When it cannot be reached the tests FAIL, saying how to start it: a PostgreSQL
 * test that skips itself silently would let a broken backend pass.
 *
 * Under bun test a database given back is emptied and kept for the next test of the same file
 * (postgres-reuse.ts says how and why); the file's databases are dropped when its tests are done. Elsewhere (the
 * benchmarks) and for `createTestDatabase({ fresh: true })` each database is created and dropped as before.
 */
import { afterAll } from "bun:test";
import { SQL } from "bun";
import { maskPassword } from "../../src/storage/location";
import { describeFresh, emptyForReuse, type FreshDatabase } from "./postgres-reuse";

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
  /** Gives the database up: dropped, or emptied for the next test of the file. Safe to call twice. */
  drop(): Promise<void>;
}

const PREFIX = "opportunity_test_";
/** A test database this old was left by a run that was killed before its afterAll: nothing uses it any more. */
const STALE_MS = 6 * 3_600_000;

/** A new name; it starts with the time it was given, in base 36 (a reused database is renamed each time). */
function newName(): string {
  return `${PREFIX}${Date.now().toString(36)}_${crypto.randomUUID().slice(0, 8)}`;
}

/** Drops the test databases of killed runs. */
async function dropStale(admin: SQL): Promise<void> {
  const rows: { datname: string }[] = await admin`SELECT datname FROM pg_database WHERE datname LIKE ${`${PREFIX}%`}`;
  for (const { datname } of rows) {
    const made = parseInt(datname.slice(PREFIX.length).split("_")[0] ?? "", 36);
    if (Number.isFinite(made) && Date.now() - made > STALE_MS) await admin.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  }
}

/** Creates an empty database; fails loudly, with the way to start PostgreSQL, when the server is not there. */
async function createDatabase(admin: SQL, name: string): Promise<void> {
  await admin.unsafe(`CREATE DATABASE "${name}"`).catch((error: unknown) => {
    throw new Error(`PostgreSQL is not reachable at ${maskPassword(TEST_DATABASE_URL)} (${(error as { code?: string }).code ?? ""} ${(error as Error).message}): ${START_HINT}`, { cause: error });
  });
  await dropStale(admin);
}

/** FORCE ends the sessions a failed test left open, so that a failure never leaves a database behind. */
async function dropDatabase(name: string): Promise<void> {
  const admin = adminClient();
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.close();
  }
}

/** A handle whose first `drop` runs `giveUp` with the database's name. */
function handle(name: string, giveUp: (name: string) => Promise<void>): TestDatabase {
  let given = false;
  return {
    name,
    url: urlOfDatabase(TEST_DATABASE_URL, name),
    async drop() {
      if (given) return;
      given = true;
      await giveUp(name);
    },
  };
}

async function createFreshDatabase(): Promise<TestDatabase> {
  const name = newName();
  const admin = adminClient();
  try {
    await createDatabase(admin, name);
  } finally {
    await admin.close();
  }
  return handle(name, dropDatabase);
}

/**
 * The databases of one test file: taken empty, given back, emptied and kept; all dropped by `drain` when the
 * file's tests are done. A database given back after that (by a hook of the file that runs later) is dropped.
 */
class DatabasePool {
  private readonly idle: string[] = [];
  private readonly releases = new Set<Promise<void>>();
  private fresh: FreshDatabase | undefined;
  /** One session on the maintenance database for all the pool's work: a new one per operation costs ~25 ms. */
  private admin: SQL | undefined;
  drained = false;

  async take(): Promise<TestDatabase> {
    const name = this.idle.pop() ?? (await this.create());
    return handle(name, (given) => this.release(given));
  }

  private async create(): Promise<string> {
    const name = newName();
    const admin = (this.admin ??= adminClient());
    await createDatabase(admin, name);
    try {
      // Every database is a copy of the same template: the first one tells what all look like when new.
      this.fresh ??= await describeFresh(admin, { name, url: urlOfDatabase(TEST_DATABASE_URL, name) });
    } catch (error) {
      await dropDatabase(name);
      throw error;
    }
    return name;
  }

  private release(name: string): Promise<void> {
    const release: Promise<void> = this.keep(name).finally(() => this.releases.delete(release));
    this.releases.add(release);
    return release;
  }

  private async keep(name: string): Promise<void> {
    if (this.drained || !this.admin || !this.fresh) return dropDatabase(name);
    const next = newName();
    try {
      await emptyForReuse(this.admin, { name, url: urlOfDatabase(TEST_DATABASE_URL, name) }, this.fresh, next);
    } catch {
      // Changed beyond what emptying restores, or still in use: dropped, as without the pool.
      return dropDatabase(name);
    }
    if (this.drained) return dropDatabase(next);
    this.idle.push(next);
  }

  async drain(): Promise<void> {
    this.drained = true;
    await Promise.allSettled([...this.releases]);
    try {
      await Promise.all(this.idle.splice(0).map(dropDatabase));
    } finally {
      await this.admin?.close();
      this.admin = undefined;
    }
  }
}

/**
 * The pool of the test file now loading: bun test evaluates this module afresh for each file it runs with
 * --parallel (which implies --isolate), and an afterAll registered while the file's imports are evaluated
 * runs once its tests are done (before the file's own afterAll hooks). Where one module serves several files
 * (bun test without --parallel), the first file's hook drains the pool and later files get fresh databases.
 * Outside bun test afterAll throws: no pool.
 */
const filePool = ((): DatabasePool | undefined => {
  const pool = new DatabasePool();
  try {
    afterAll(() => pool.drain());
  } catch {
    return undefined;
  }
  return pool;
})();

/**
 * An empty database, as CREATE DATABASE makes it (a reused one is indistinguishable). `fresh: true` creates a
 * new one, dropped when given up: for a test that must see a database nothing ever ran in.
 */
export async function createTestDatabase(options: { fresh?: boolean } = {}): Promise<TestDatabase> {
  if (options.fresh || !filePool || filePool.drained) return createFreshDatabase();
  return filePool.take();
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
