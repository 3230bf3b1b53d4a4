/**
 * The database of a test, on either backend: the storage (reads), the group-commit write path over it, the
 * tables for direct checks, and how to throw it all away. Suites that hold for any backend open theirs with
 * `openTestBackend()`, which takes the backend from TEST_BACKEND: `make test` runs them once on SQLite and again
 * with TEST_BACKEND=postgres (see the Makefile's BACKEND_NEUTRAL_SUITES). Tests about SQLite itself (its file,
 * WAL, writer thread, busy timeout) open `openSqliteTestBackend` (with the SQLite store's synchronous parts) and
 * are marked `sqliteOnly` in a neutral suite, or sit in a suite that make test runs on SQLite only.
 */
import { afterEach, describe, test } from "bun:test";
import type { EventRow, StoredEvent } from "../../events/stored-event";
import { join } from "node:path";
import { verifyAuditReads, verifyStore, type VerifyReport } from "../../src/audit/verify-store";
import { openServiceStore, type ServiceStore } from "../../src/service-store";
import type { Head, Storage } from "../../src/storage/port";
import { openPostgresStorage, PostgresStorage, type PostgresStorageOptions } from "../../src/storage/postgres/storage";
import { SqliteStorage } from "../../src/storage/sqlite/storage";
import { GroupCommit, type GroupCommitOptions } from "../../src/write/group-commit";
import { createTestDatabase } from "./postgres";
import { postgresTables, sqliteTables, type StoredTables } from "./stored-tables";
import { makeTempDir } from "./temp-dir";

export type Backend = "sqlite" | "postgres";

function backendOf(name: string | undefined): Backend {
  if (name === undefined || name === "" || name === "sqlite") return "sqlite";
  if (name === "postgres") return "postgres";
  throw new Error(`TEST_BACKEND=${name}: expected sqlite or postgres`);
}

/** The backend the backend-neutral suites run on in this run (TEST_BACKEND; default sqlite). */
export const TEST_BACKEND: Backend = backendOf(process.env.TEST_BACKEND);

export interface BackendOptions {
  /** The clock of the write path (recorded_at, idempotency records). */
  now?: () => Date;
  /** The group-commit settings (batch size, key retention and cap). */
  writer?: GroupCommitOptions;
  /** PostgreSQL only: pool and timeouts of the storage. */
  postgres?: PostgresStorageOptions;
}

export interface TestBackend {
  kind: Backend;
  storage: Storage;
  writer: GroupCommit;
  tables: StoredTables;
  /**
   * Closes the storage; safe to call twice. From openTestBackend it also removes the database (the file or the
   * PostgreSQL database); from BackendDatabase.open the database stays, for the next open (a restart).
   */
  dispose(): Promise<void>;
}

export interface SqliteTestBackend extends Omit<TestBackend, "kind" | "storage" | "writer">, ServiceStore {
  kind: "sqlite";
  dbPath: string;
  dir: string;
}

/** A service store on a new SQLite file in a temporary directory (under `parent`, default the system temp dir). */
export function openSqliteTestBackend(options: BackendOptions = {}, prefix?: string, parent?: string): SqliteTestBackend {
  const dir = makeTempDir(prefix, parent);
  const dbPath = join(dir.path, "opportunities.db");
  const store = openServiceStore(dbPath, { now: options.now, writer: options.writer });
  let closed = false;
  return {
    ...store,
    kind: "sqlite",
    dbPath,
    dir: dir.path,
    tables: sqliteTables(store.db),
    close() {
      closed = true;
      return store.close();
    },
    async dispose() {
      if (!closed) store.close();
      closed = true;
      dir.cleanup();
    },
  };
}

/**
 * A database of one test on which services are opened: one after another (a restart) or side by side (two
 * instances). `drop` closes the ones still open and removes the database.
 */
export interface BackendDatabase {
  kind: Backend;
  /** What a CLI command's --db takes: the SQLite file's path (no file until the first open), or the URL. */
  location: string;
  /** A service store on this database; its `dispose` closes it (the database stays). */
  open(options?: BackendOptions): Promise<TestBackend>;
  drop(): Promise<void>;
}

/** One SQLite file in a temporary directory; each open is a new connection to it. */
function sqliteDatabase(): BackendDatabase {
  const dir = makeTempDir();
  const path = join(dir.path, "opportunities.db");
  const opened = new Set<TestBackend>();
  return {
    kind: "sqlite",
    location: path,
    async open(options = {}) {
      const store = openServiceStore(path, { now: options.now, writer: options.writer });
      const backend: TestBackend = {
        kind: "sqlite",
        storage: store.storage,
        writer: store.writer,
        tables: sqliteTables(store.db),
        async dispose() {
          if (opened.delete(backend)) store.close();
        },
      };
      opened.add(backend);
      return backend;
    },
    async drop() {
      for (const backend of [...opened]) await backend.dispose();
      dir.cleanup();
    },
  };
}

/**
 * An empty PostgreSQL database of its own (new, or one an earlier test of the file gave up, emptied: see
 * postgres.ts); each open is a new pool on it (another instance).
 */
async function postgresDatabase(): Promise<BackendDatabase> {
  const database = await createTestDatabase();
  const opened = new Set<TestBackend>();
  return {
    kind: "postgres",
    location: database.url,
    async open(options = {}) {
      const storage = await openPostgresStorage(database.url, options.postgres);
      const tables = postgresTables(database.url);
      const backend: TestBackend = {
        kind: "postgres",
        storage,
        writer: new GroupCommit(storage, { now: options.now, ...options.writer }),
        tables,
        async dispose() {
          if (opened.delete(backend)) await Promise.allSettled([storage.close(), tables.close()]);
        },
      };
      opened.add(backend);
      return backend;
    },
    async drop() {
      try {
        await Promise.allSettled([...opened].map((backend) => backend.dispose()));
      } finally {
        await database.drop();
      }
    },
  };
}

/** A new, empty database on `backend` (default: this run's TEST_BACKEND). */
export async function createBackendDatabase(backend: Backend = TEST_BACKEND): Promise<BackendDatabase> {
  return backend === "sqlite" ? sqliteDatabase() : postgresDatabase();
}

/** A service store on a new database of `backend` (default: TEST_BACKEND); its `dispose` removes the database. */
export async function openTestBackend(options: BackendOptions & { backend?: Backend } = {}): Promise<TestBackend> {
  const database = await createBackendDatabase(options.backend);
  try {
    const backend = await database.open(options);
    return { ...backend, dispose: () => database.drop() };
  } catch (error) {
    await database.drop();
    throw error;
  }
}

/** `open` gives a service store on a new database of TEST_BACKEND; all it opened are removed after each test. */
export function backendsPerTest(): { open(options?: BackendOptions): Promise<TestBackend> } {
  const opened: TestBackend[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((backend) => backend.dispose()));
  });
  return {
    async open(options) {
      const backend = await openTestBackend(options);
      opened.push(backend);
      return backend;
    },
  };
}

/**
 * A test about SQLite itself (its file, WAL, PRAGMAs) inside a backend-neutral suite: it runs in the SQLite run
 * and is reported as skipped in the PostgreSQL one (`make test` runs both).
 */
export const sqliteOnly = { test: test.skipIf(TEST_BACKEND !== "sqlite"), describe: describe.skipIf(TEST_BACKEND !== "sqlite") };

/** What `verify` reports of the test database: the same audit the CLI runs on each backend. */
export async function verifyBackend(backend: Pick<TestBackend, "storage">, options: { expectHead?: Head } = {}): Promise<VerifyReport> {
  const { storage } = backend;
  if (storage instanceof SqliteStorage) return storage.db.transaction(() => verifyStore(storage.db, options))();
  if (storage instanceof PostgresStorage) return storage.audit((reads) => verifyAuditReads(reads, options));
  throw new Error(`no audit for a ${storage.kind} storage`);
}

/** Every event of one stream, in version order, read through the port in pages (as the read routes do). */
export async function readWholeStream(storage: Pick<Storage, "readStreamPage">, streamId: string): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (;;) {
    const page = await storage.readStreamPage(streamId, events.at(-1)?.version ?? 0, 1_000);
    events.push(...page);
    if (page.length < 1_000) return events;
  }
}

/** Every stored event row, in position order, read through the port in pages. */
export async function readAllRows(storage: Pick<Storage, "readRowsAfter">): Promise<EventRow[]> {
  const rows: EventRow[] = [];
  for (;;) {
    const page = await storage.readRowsAfter(rows.at(-1)?.position ?? 0, 1_000);
    rows.push(...page);
    if (page.length < 1_000) return rows;
  }
}

/**
 * Every event row as stored, read with plain SQL on the test's own access to the tables (not through the port
 * the export and the service read): the integer columns as numbers, as an EventRow holds them.
 */
export async function storedEventRows(backend: Pick<TestBackend, "tables">): Promise<EventRow[]> {
  const rows = await backend.tables.select<Record<string, unknown>>("SELECT * FROM events ORDER BY position");
  return rows.map((row) => ({ ...row, position: Number(row.position), version: Number(row.version), schema_version: Number(row.schema_version) }) as EventRow);
}
