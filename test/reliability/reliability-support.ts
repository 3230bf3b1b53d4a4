/**
 * Helpers of the reliability tests: a test database of this run's backend (useTestDatabase) or a SQLite file
 * (useTempService, for the tests about SQLite itself), services opened on it (again: a restart), apps built
 * with an auth throttle or storage hooks, and requests sent through app.handle with a chosen secret and peer
 * address.
 */
import type { Database } from "bun:sqlite";
import { afterEach, beforeEach } from "bun:test";
import { join } from "node:path";
import type { EventMetadata } from "../../events/opportunity-events";
import type { CreateOpportunity, UpdateOpportunity } from "../../src/commands";
import type { App, AppDeps } from "../../src/http/app";
import type { TrustedProxies } from "../../src/http/trusted-proxies";
import type { AuthThrottle } from "../../src/http/auth-throttle";
import { noteClientAddress } from "../../src/http/request-context";
import type { SqliteStorage } from "../../src/storage/sqlite/storage";
import { openServiceStore, type ServiceStore } from "../../src/service-store";
import type { StorageUnavailableError } from "../../src/storage-errors";
import type { SqliteEventReads } from "../../src/storage/sqlite/event-reads";
import type { OpportunitiesTable } from "../../src/storage/sqlite/opportunity-rows";
import type { ProjectionChange } from "../../src/write/batch-plan";
import type { GroupCommit } from "../../src/write/group-commit";
import { answerOf, type Answer } from "../http/http-client";
import { sqliteTables, type StoredTables } from "../support/stored-tables";
import { makeTempDir, type TempDir } from "../support/temp-dir";
import { createBackendDatabase, type BackendDatabase, type BackendOptions, type TestBackend } from "../support/test-backend";
import { TEST_SECRET, createTestApp } from "../support/test-service";

export const META: EventMetadata = { actor: "oms", requestId: "req-reliability" };

/** The SQLite store's parts, as a read-only connection opens them. */
export interface StoreParts {
  writer: ServiceStore["writer"];
  storage: SqliteStorage;
  store: SqliteEventReads;
  opportunities: OpportunitiesTable;
  tables: StoredTables;
}

export interface AppOptions {
  authThrottle?: AuthThrottle;
  trustedProxies?: TrustedProxies;
  onStorageUnavailable?: (error: StorageUnavailableError) => void;
  onUnexpectedError?: (error: unknown, request: Request) => void;
}

/** The full HTTP app over the given store, with the clients of test/support/test-service.ts, docs off. */
export function appFor(parts: Pick<AppDeps, "writer" | "storage">, options: AppOptions = {}): App {
  return createTestApp(parts, { docs: false, ...options });
}

export interface RequestOptions {
  body?: unknown;
  rawBody?: string;
  /** Default TEST_SECRET (client "oms"); null sends none. */
  secret?: string | null;
  headers?: Record<string, string>;
  /** The peer address the server would have seen (noteClientAddress); none leaves it "unknown". */
  address?: string;
}

/** Sends one request through app.handle. */
export function sendTo(app: App, method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  const secret = options.secret === undefined ? TEST_SECRET : options.secret;
  if (secret !== null) headers.set("x-internal-secret", secret);
  const init: RequestInit = { method, headers };
  if (options.rawBody !== undefined || options.body !== undefined) {
    headers.set("content-type", "application/json");
    init.body = options.rawBody ?? JSON.stringify(options.body);
  }
  const request = new Request(`http://localhost${path}`, init);
  noteClientAddress(request, options.address);
  return app.handle(request);
}

export async function callApp(app: App, method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
  return answerOf(await sendTo(app, method, path, options));
}

type ServiceOptions = Parameters<typeof openServiceStore>[1];
/** A SQLite service store with its tables for direct checks. */
export type SqliteService = ServiceStore & { tables: StoredTables };

/** A database file of one test, and the services it opened on it. */
export interface TempService {
  /** The database file of the test running now. */
  readonly path: string;
  /** A service on that file, closed after the test unless the test has closed it with `close`. */
  open(options?: ServiceOptions): SqliteService;
  /** Closes a service now (to reopen the file, as a restart does); it is not closed again after the test. */
  close(service: ServiceStore): void;
}

/**
 * For each test of the calling file (or describe block): a new temporary database, removed after the test
 * once every service opened on it is closed. `beforeClose` runs first, for what must end before the services
 * do (a writer thread on the same file).
 */
export function useTempService(options: { beforeClose?: () => void | Promise<void> } = {}): TempService {
  let dir: TempDir | undefined;
  const opened = new Set<ServiceStore>();
  const path = () => join(dir!.path, "opportunities.db");
  beforeEach(() => {
    dir = makeTempDir("opportunity-reliability-");
  });
  afterEach(async () => {
    try {
      await options.beforeClose?.();
    } finally {
      for (const service of opened) service.close();
      opened.clear();
      dir?.cleanup();
      dir = undefined;
    }
  });
  return {
    get path() {
      return path();
    },
    open(options = {}) {
      const service = openServiceStore(path(), options);
      opened.add(service);
      return { ...service, tables: sqliteTables(service.db) };
    },
    close(service) {
      if (opened.delete(service)) service.close();
    },
  };
}

/**
 * The same parts as openServiceStore, on a connection opened read-only (as after `chmod 0444` of the file, or a
 * read-only mount): reads work, every write fails with SQLITE_READONLY.
 */
export function openReadOnly(path: string): StoreParts & { db: Database; close(): void } {
  const service = openServiceStore(path, { readonly: true });
  const { db, storage, store, opportunities, writer } = service;
  return { db, storage, store, opportunities, writer, tables: sqliteTables(db), close: () => service.close() };
}

/** A database of this run's backend (TEST_BACKEND) for one test, and the services opened on it. */
export interface TestDatabase {
  /** A service store on the database of the test running now, closed after the test unless closed before. */
  open(options?: BackendOptions): Promise<TestBackend>;
  /** Closes a service now (to open the database again, as a restart does). */
  close(service: TestBackend): Promise<void>;
}

/**
 * For each test of the calling file (or describe block): a new database on TEST_BACKEND (a SQLite file or a
 * PostgreSQL database), removed after the test with every service opened on it.
 */
export function useTestDatabase(): TestDatabase {
  let database: BackendDatabase | undefined;
  beforeEach(async () => {
    database = await createBackendDatabase();
  });
  afterEach(async () => {
    await database?.drop();
    database = undefined;
  });
  return {
    open: (options) => database!.open(options),
    close: (service) => service.dispose(),
  };
}

/**
 * Runs `hook` after each projection row a commit of `service` writes, inside the transaction (it may throw, to
 * fail the write there, after the batch's event rows are in); returns what undoes it.
 */
export function afterProjectionWrite(service: ServiceStore, hook: (change: ProjectionChange) => void): () => void {
  const table = service.opportunities;
  const apply = table.applyChange.bind(table);
  table.applyChange = (change) => {
    apply(change);
    hook(change);
  };
  return () => {
    table.applyChange = apply;
  };
}

export function createCommand(code: string, fields: CreateOpportunity["fields"] = {}): CreateOpportunity {
  return { type: "CreateOpportunity", opportunityCode: code, endCustomerName: "某市大数据局", fields: { opportunityName: `商机 ${code}`, ...fields } };
}

export function updateCommand(code: string, fields: UpdateOpportunity["fields"], expectedVersion?: number): UpdateOpportunity {
  const command: UpdateOpportunity = { type: "UpdateOpportunity", opportunityCode: code, fields };
  if (expectedVersion !== undefined) command.expectedVersion = expectedVersion;
  return command;
}

export const eventCount = (tables: StoredTables) => tables.count("events");
export const positions = async (tables: StoredTables) =>
  (await tables.select<{ position: bigint }>("SELECT position FROM events ORDER BY position")).map((row) => Number(row.position));
export const idempotencyKeysOf = (tables: StoredTables) => tables.select<{ client: string; key: string }>("SELECT client, key FROM idempotency_keys ORDER BY client, key");

/** Every commit the writer reports: the event types each transaction appended. */
export function recordCommits(writer: GroupCommit): string[][] {
  const commits: string[][] = [];
  writer.onCommit = (_seconds, types) => commits.push([...types]);
  return commits;
}

/** Resolves with "timer" after `ms`, unless `promise` settles first ("settled"). Only as a loose guard. */
export function settlesBefore(promise: Promise<unknown>, ms: number): Promise<"settled" | "timer"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timer">((resolve) => {
    timer = setTimeout(() => resolve("timer"), ms);
  });
  const settled = promise.then(
    () => "settled" as const,
    () => "settled" as const,
  );
  return Promise.race([settled, deadline]).finally(() => clearTimeout(timer));
}
