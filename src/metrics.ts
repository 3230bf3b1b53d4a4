import { statSync } from "node:fs";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * The service's Prometheus metrics (prom-client: a well-kept implementation of the exposition format, and it
 * works inside the compiled binary). Labels are bounded: routes are patterns, never raw paths or codes.
 */
export interface MetricsSources {
  /** The SQLite file, whose size and WAL size are reported; none on PostgreSQL (its own monitoring covers that). */
  dbPath?: string;
  countOpportunities: () => number | Promise<number>;
  /** With the writer thread: how many write requests were committed on the HTTP thread and how many there. */
  writePaths?: () => { inProcess: number; writerThread: number };
  /** SQLite: the WAL's checkpointer thread, whether it is up and how many checkpoints copied pages. */
  walCheckpoints?: () => { checkpoints: number; up: boolean };
}

export class ServiceMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: "opportunity_http_requests_total",
    help: "HTTP requests by route pattern, method, HTTP status and envelope code (0 success, -1 failure, none when not an envelope)",
    labelNames: ["route", "method", "status", "code"] as const,
    registers: [this.registry],
  });

  readonly requestSeconds = new Histogram({
    name: "opportunity_http_request_duration_seconds",
    help: "Time from receiving a request to its answer",
    labelNames: ["route", "method"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly eventsAppended = new Counter({
    name: "opportunity_events_appended_total",
    help: "Events appended to the event store",
    labelNames: ["type"] as const,
    registers: [this.registry],
  });

  readonly commitSeconds = new Histogram({
    name: "opportunity_write_transaction_duration_seconds",
    help: "Time of one write transaction: load state, decide, append, project and commit (fsync included)",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor(sources: MetricsSources) {
    const fileSize = (path: string) => {
      try {
        return statSync(path).size;
      } catch {
        return 0;
      }
    };
    const dbPath = sources.dbPath;
    if (dbPath !== undefined) {
      new Gauge({
        name: "opportunity_database_size_bytes",
        help: "Size of the database file",
        registers: [this.registry],
        collect() {
          this.set(fileSize(dbPath));
        },
      });
      new Gauge({
        name: "opportunity_wal_size_bytes",
        help: "Size of the write-ahead log",
        registers: [this.registry],
        collect() {
          this.set(fileSize(`${dbPath}-wal`));
        },
      });
    }
    new Gauge({
      name: "opportunity_opportunities",
      help: "Opportunities in the projection",
      registers: [this.registry],
      async collect() {
        this.set(await sources.countOpportunities());
      },
    });
    const writePaths = sources.writePaths;
    if (writePaths) {
      new Counter({
        name: "opportunity_write_requests_total",
        help: "Write requests by where they were committed: writer_thread (group commit), or in_process for one that came alone",
        labelNames: ["path"] as const,
        registers: [this.registry],
        collect() {
          const counts = writePaths();
          this.reset();
          this.inc({ path: "in_process" }, counts.inProcess);
          this.inc({ path: "writer_thread" }, counts.writerThread);
        },
      });
    }
    if (sources.walCheckpoints) walCheckpointMetrics(this.registry, sources.walCheckpoints);
    new Gauge({
      name: "opportunity_process_resident_memory_bytes",
      help: "Resident memory of the process",
      registers: [this.registry],
      collect() {
        this.set(process.memoryUsage().rss);
      },
    });
  }

  // The labelled children of the per-request metrics, by their labels joined: prom-client would otherwise hash
  // the label object of every observation (about 3% of the HTTP thread's time at concurrency 32). Bounded:
  // beyond it (hostile method names) observations go through prom-client's own lookup.
  private readonly requestChildren = new Map<string, { count: { inc(): void }; seconds: { observe(value: number): void } }>();

  /** One answered request: counted by route, method, status and envelope code, timed by route and method. */
  observeRequest(route: string, method: string, status: string, code: string, seconds: number): void {
    const key = `${route}\n${method}\n${status}\n${code}`;
    let children = this.requestChildren.get(key);
    if (children === undefined) {
      children = { count: this.requests.labels({ route, method, status, code }), seconds: this.requestSeconds.labels({ route, method }) };
      if (this.requestChildren.size < 1_000) this.requestChildren.set(key, children);
    }
    children.count.inc();
    children.seconds.observe(seconds);
  }

  /** Called by the writer after each committed transaction. */
  recordCommit(seconds: number, eventTypes: readonly string[]): void {
    this.commitSeconds.observe(seconds);
    for (const type of eventTypes) this.eventsAppended.inc({ type });
  }
}

/**
 * The checkpointer thread's work (storage/sqlite/wal-checkpoints.ts): a WAL that keeps growing while the counter
 * stands still, or the gauge at 0, is what an operator alerts on.
 */
function walCheckpointMetrics(registry: Registry, read: NonNullable<MetricsSources["walCheckpoints"]>): void {
  new Counter({
    name: "opportunity_wal_checkpoints_total",
    help: "Checkpoints by the checkpointer thread that copied WAL pages into the database file",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read().checkpoints);
    },
  });
  new Gauge({
    name: "opportunity_wal_checkpointer_up",
    help: "1 while the checkpointer thread runs and its last checkpoint succeeded; 0 when it failed or the thread is not running (commits then checkpoint the WAL themselves)",
    registers: [registry],
    collect() {
      this.set(read().up ? 1 : 0);
    },
  });
}
