import { SQL } from "bun";
import { StorageUnavailableError } from "../../storage-errors";
import type { BatchPlan, BatchSnapshot, SnapshotNeeds } from "../../write/batch-plan";
import { maskPassword } from "../location";
import type { AuditReads, CommittedBatch, FormedBatch, RestoreTarget, Storage } from "../port";
import { auditReads } from "./audit-reads";
import { rewriteOpportunities } from "./projection-rebuild";
import { restoreTarget } from "./restore-target";
import { commitBatch, commitBatchWhenLocked, lockHead, readSnapshotUnlocked } from "./batch-commit";
import { CommitAnnouncer, watchCommits } from "./commit-watch";
import { asPostgresStorageError, unavailableAsStorageError } from "./errors";
import * as events from "./event-reads";
import { pruneKeys } from "./idempotency-keys";
import { countOpportunities, findOpportunity } from "./opportunity-rows";
import { migrate, POSTGRES_SCHEMA_VERSION, schemaVersionOf } from "./schema";

export interface PostgresStorageOptions {
  /** Connections per instance. Many connections queueing on one lock make things worse: a few suffice. */
  poolSize?: number;
  /** How long a batch waits for the head row before it fails (503) instead of queueing for ever. */
  lockTimeoutMs?: number;
  /** A session idle inside a transaction this long is ended by the server: a frozen instance cannot hold the head lock. */
  idleInTransactionTimeoutMs?: number;
  /** Seconds to wait for a new connection. */
  connectTimeoutSeconds?: number;
  /** Bring the schema up to date at open (the service, import); commands that only read or check leave it as it is. */
  migrate?: boolean;
}

const DEFAULTS = { poolSize: 6, lockTimeoutMs: 5_000, idleInTransactionTimeoutMs: 10_000, connectTimeoutSeconds: 5, migrate: true } as const;
/** How long a "ready" answer is kept: probes cost nothing however often they come. */
const READY_CACHE_MS = 1_000;
/** After a write failed on a held lock or a full disk, how long readiness stays red before writes may try again (as on SQLite). */
const FAILURE_HOLD_DOWN_MS = 5_000;
/** Longest a readiness probe may take before it answers "not ready". */
const PROBE_TIMEOUT_MS = 2_000;

/** The database named in the URL. PGDATABASE would override it unless it is passed explicitly. */
function databaseOf(url: string): string | undefined {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  return name === "" ? undefined : name;
}

function pool(url: string, options: Required<PostgresStorageOptions>, max: number, settings: Record<string, string> = {}): SQL {
  return new SQL({
    url,
    database: databaseOf(url),
    max,
    connectionTimeout: options.connectTimeoutSeconds,
    idleTimeout: 60,
    connection: {
      application_name: "opportunity-service",
      // Explicit, whatever the server's default: the head lock's safety depends on READ COMMITTED.
      default_transaction_isolation: "read committed",
      lock_timeout: `${options.lockTimeoutMs}ms`,
      idle_in_transaction_session_timeout: `${options.idleInTransactionTimeoutMs}ms`,
      ...settings,
    },
  });
}

/** The last write failure, for readiness: when it was, and whether it is one a probe cannot see gone. */
interface Failure {
  code: string;
  at: number;
}

/**
 * Storage on PostgreSQL: several instances of the service share one database. Every read and write goes
 * through a small pool; readiness probes use a pool of their own (one connection, a short statement timeout),
 * so that a probe never queues behind writes nor holds anything up.
 */
export class PostgresStorage implements Storage {
  readonly kind = "postgres" as const;
  readonly location: string;
  private failure: Failure | null = null;
  /** Tells the other instances' live streams about this instance's commits. */
  private readonly announcer: CommitAnnouncer;
  private readyUntil = 0;
  private probing: Promise<string | null> | undefined;

  constructor(
    private readonly sql: SQL,
    private readonly probeSql: SQL,
    private readonly url: string,
  ) {
    this.location = maskPassword(url);
    this.announcer = new CommitAnnouncer(sql);
  }

  head = () => this.read(() => events.readHead(this.sql));
  streamVersion = (streamId: string) => this.readStream(streamId, 0, () => events.streamVersion(this.sql, streamId));
  readStreamPage = (streamId: string, afterVersion: number, limit: number) =>
    this.readStream(streamId, [], () => events.readStreamPage(this.sql, streamId, afterVersion, limit));
  readAll = (afterPosition: number, limit: number) => this.read(() => events.readAll(this.sql, afterPosition, limit));
  readRowsAfter = (afterPosition: number, limit: number) => this.read(() => events.readRowsAfter(this.sql, afterPosition, limit));
  readFoldInputs = (streamId: string, afterVersion: number, throughVersion: number, limit: number) =>
    this.readStream(streamId, [], () => events.readFoldInputs(this.sql, streamId, afterVersion, throughVersion, limit));
  firstVersionRecordedAfter = (streamId: string, recordedAt: string, afterVersion: number, throughVersion: number) =>
    this.readStream(streamId, null, () => events.firstVersionRecordedAfter(this.sql, streamId, recordedAt, afterVersion, throughVersion));
  findOpportunity = (code: string) => this.readStream(code, null, () => findOpportunity(this.sql, code));
  countOpportunities = () => this.read(() => countOpportunities(this.sql));
  readSnapshot = (needs: SnapshotNeeds) => this.read(() => readSnapshotUnlocked(this.sql, needs));

  async commitBatch(needs: SnapshotNeeds, decide: (snapshot: BatchSnapshot) => BatchPlan): Promise<CommittedBatch> {
    try {
      const committed = await commitBatch(this.sql, needs, decide);
      this.failure = null;
      if (committed.plan.events.length > 0) this.announcer.committed();
      return committed;
    } catch (error) {
      this.noteFailure(error);
      throw error;
    }
  }

  async commitBatchWhenLocked(form: () => FormedBatch | null): Promise<CommittedBatch | null> {
    try {
      const committed = await commitBatchWhenLocked(this.sql, form);
      this.failure = null;
      if (committed && committed.plan.events.length > 0) this.announcer.committed();
      return committed;
    } catch (error) {
      this.noteFailure(error);
      throw error;
    }
  }

  watchCommits(onCommit: () => void): Promise<() => Promise<void>> {
    return watchCommits(this.sql, onCommit);
  }

  async pruneIdempotencyKeys(before: string, limit: number): Promise<number> {
    try {
      return await unavailableAsStorageError(() => pruneKeys(this.sql, before, limit));
    } catch (error) {
      this.noteFailure(error);
      throw error;
    }
  }

  /**
   * Null when the database can take writes, else why not. Never writes, never waits long: a "ready" answer is
   * kept for a second; otherwise one cheap query (the schema version: reachability and schema in one) on the
   * probe pool, shared by the probes that come meanwhile. A failed write whose cause a query cannot see (a
   * held lock, a full disk) keeps it red for a few seconds, then lets writes try again.
   */
  readiness(): Promise<string | null> {
    if (Date.now() < this.readyUntil) return Promise.resolve(null);
    this.probing ??= this.probe().finally(() => (this.probing = undefined));
    return this.probing;
  }

  async close(): Promise<{ checkpointed: boolean; checkpointError?: string }> {
    // PostgreSQL checkpoints on its own: nothing of ours is left to flush once the pools are closed.
    await Promise.all([this.sql.close({ timeout: 5 }), this.probeSql.close({ timeout: 1 })]);
    return { checkpointed: true };
  }

  /**
   * The URL with its password, for a thread of this process that opens a connection of its own (a verification
   * job's, see src/verify-worker.ts). Never for a log or an answer: `location` is the masked one.
   */
  connectionUrl(): string {
    return this.url;
  }

  /**
   * Runs the audit's reads in one REPEATABLE READ, READ ONLY transaction: every check sees the same committed
   * instant while the service goes on writing (a snapshot needs no lock, and the checks take none). The
   * transaction may stay idle between pages while the checks run, longer than the service's own sessions may.
   */
  async audit<T>(work: (reads: AuditReads) => Promise<T>): Promise<T> {
    // Ended by a rollback, not a commit: it wrote nothing, and a read that failed must not cost the report.
    const done = Symbol("audit done");
    let result: { value: T } | undefined;
    try {
      await this.read(() =>
        this.sql.begin("isolation level repeatable read read only", async (tx) => {
          await tx`SET LOCAL idle_in_transaction_session_timeout = '10min'`;
          result = { value: await work(auditReads(tx)) };
          throw done;
        }),
      );
    } catch (error) {
      if (error !== done || !result) throw error;
    }
    return result!.value;
  }

  /** Rewrites the projection from the events in one transaction holding the head lock: no write of any instance interleaves. */
  rebuildProjection(): Promise<{ opportunities: number; events: number }> {
    return this.read(() =>
      this.sql.begin(async (tx) => {
        await lockHead(tx);
        return rewriteOpportunities(tx);
      }),
    );
  }

  /**
   * Fills an empty database from an export in one transaction (see restoreTarget): `work` loads the rows; a
   * failure or a kill anywhere leaves the database as it was. TargetNotEmptyError when it holds data.
   */
  restoreInto<T>(work: (target: RestoreTarget) => Promise<T>): Promise<T> {
    return this.read(() =>
      this.sql.begin(async (tx) => {
        await tx`SET LOCAL idle_in_transaction_session_timeout = '10min'`;
        return work(await restoreTarget(tx, this.location));
      }),
    );
  }

  private read<T>(work: () => Promise<T>): Promise<T> {
    return unavailableAsStorageError(work);
  }

  /**
   * A read of one stream (opportunity). A code holding U+0000 (a path may carry %00) names no stream: no write
   * accepts one, and PostgreSQL text cannot even hold it, so the server would refuse the query itself.
   */
  private readStream<T>(streamId: string, none: T, work: () => Promise<T>): Promise<T> {
    return streamId.includes("\u0000") ? Promise.resolve(none) : this.read(work);
  }

  private noteFailure(error: unknown): void {
    if (error instanceof StorageUnavailableError) {
      this.failure = { code: error.code, at: Date.now() };
      this.readyUntil = 0;
    }
  }

  private async probe(): Promise<string | null> {
    const failure = this.failure;
    if (failure && !connectionLevel(failure.code) && Date.now() - failure.at < FAILURE_HOLD_DOWN_MS) {
      return `数据库不可写 (${failure.code}): 最近一次写入失败，原因尚未消除`;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("数据库无响应: 检查超时"), PROBE_TIMEOUT_MS)));
    try {
      return await Promise.race([this.checkSchema(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async checkSchema(): Promise<string | null> {
    try {
      const version = await schemaVersionOf(this.probeSql);
      if (version !== POSTGRES_SCHEMA_VERSION) return `数据库结构版本为 ${version}，本程序需要 ${POSTGRES_SCHEMA_VERSION}`;
      this.readyUntil = Date.now() + READY_CACHE_MS;
      return null;
    } catch (error) {
      const code = (asPostgresStorageError(error) as { code?: string }).code ?? "";
      return `数据库无法连接${code ? ` (${code})` : ""}: ${maskPassword((error as Error).message)}`;
    }
  }
}

/** A failure a successful probe shows gone: the connection or the server itself, not a lock or a full disk. */
const connectionLevel = (code: string) => /^08|^57P0[123]$|^ERR_POSTGRES_/.test(code);

/**
 * Opens storage on the PostgreSQL database of `url`, bringing its schema up to date (under the migration lock).
 * Throws StorageUnavailableError when the database cannot be reached, SchemaTooNewError for a newer schema.
 */
export async function openPostgresStorage(url: string, options: PostgresStorageOptions = {}): Promise<PostgresStorage> {
  const settings = { ...DEFAULTS, ...options };
  const sql = pool(url, settings, settings.poolSize);
  const probeSql = pool(url, settings, 1, { statement_timeout: `${PROBE_TIMEOUT_MS / 2}ms` });
  try {
    if (settings.migrate) await unavailableAsStorageError(() => migrate(sql));
  } catch (error) {
    await Promise.allSettled([sql.close(), probeSql.close()]);
    throw error;
  }
  return new PostgresStorage(sql, probeSql, url);
}
