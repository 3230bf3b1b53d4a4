import { parseArgs } from "node:util";
import packageJson from "../../package.json" with { type: "json" };
import { loadDemoData } from "../demo-data";
import { createApp } from "../http/app";
import { EventStreamHub, streamSourceOf } from "../http/event-stream-hub";
import { AuthThrottle } from "../http/auth-throttle";
import { instrument } from "../http/instrument";
import { noteClientAddress } from "../http/request-context";
import { pathOf } from "../http/request-target";
import { TrustedProxies } from "../http/trusted-proxies";
import { log, setLogLevel } from "../log";
import { ServiceMetrics } from "../metrics";
import { readSecretsFile, resolveClients, secretFileExposure, SecretVerifier, type Client, type SecretSource } from "../secrets";
import { BOOLEAN_SETTINGS, describeSettings, normalizeBooleanFlags, resolveSettings, SETTINGS, settingOptions, settingsHelp, type Resolved } from "../settings";
import { loadStageDictionary, type StageDictionary } from "../stage-dictionary";
import { BUILD_COMMIT } from "../version";
import { parseDatabaseLocation, type DatabaseLocation } from "../storage/location";
import type { GroupCommitOptions } from "../write/group-commit";
import { openServiceBackend, type ServiceBackend } from "./serve-backend";
import { UsageError } from "./shared-options";

const SERVE_SETTINGS = [
  "port",
  "host",
  "db",
  "secretsFile",
  "stagesFile",
  "timeZone",
  "bodyLimit",
  "batchMaxItems",
  "logLevel",
  "docs",
  "shutdownTimeout",
  "idempotencyTtlHours",
  "idempotencyMaxKeysPerClient",
  "groupCommitMaxBatch",
  "groupCommitWaitMs",
  "authFailureLimit",
  "authLockoutSeconds",
  "trustedProxies",
  "writerThread",
  "maxStreams",
  "streamHeartbeatSeconds",
] as const;

// Idempotency keys past their window are forgotten this often (and once at start).
const PRUNE_EVERY_MS = 10 * 60_000;

export const SERVE_HELP = `Usage: opportunity-service serve [options]

Serves PUT /api/opportunities/integration/update (and create, batch-update, read, history, events), docs at
/swagger, health at /healthz and /readyz, Prometheus metrics at /metrics. The write routes take ?dryRun=true:
validated and decided against the current state, nothing written.

Options (a flag wins over its environment variable, which wins over the config file, then the default):
${settingsHelp(SERVE_SETTINGS)}
  --demo                   load a few demo opportunities when the database is empty (make run uses this)
  -h, --help               show this help

Database: a SQLite file (the default, ./data/opportunities.db), or a PostgreSQL URL (postgres://user:password@host:5432/db)
shared by several instances behind a load balancer; the schema is created or upgraded at start either way.

Secrets: --secrets / SECRETS_FILE, else INTERNAL_SECRET (client "default"), else (SQLite only) a strong secret is
generated, saved beside the database as <db>.secret with mode 0600, and printed once. On PostgreSQL every
instance must be given the same secrets, so one of the first two is required.

Live events: GET /api/events/stream sends every new event as Server-Sent Events (after=N or Last-Event-ID:
from that position on), at most --max-streams at once; another process's import or another instance's writes
are seen too.

Signals: SIGTERM or SIGINT stop accepting, end the live event streams, finish requests in flight (up to the
shutdown timeout), checkpoint the WAL and exit 0. SIGHUP reloads the secrets file and the stages file; a bad
file keeps the old ones. SIGUSR2 logs a "memory" line: the process's memory after a full garbage collection.`;

type ServeConfig = Resolved<(typeof SERVE_SETTINGS)[number]>["values"];

function announceSecret(source: SecretSource, port: number): void {
  if (source.kind !== "generated" && source.kind !== "saved") return;
  // The secret itself appears once at most, on the line of the header to send; the example reads the file, so
  // a copied command never spreads it further (stdout is often a journal).
  const example = `curl -X PUT 'http://localhost:${port}/api/opportunities/integration/update' \\
  -H 'Content-Type: application/json' \\
  -H "X-Internal-Secret: $(cat ${source.path})" \\
  -d '{"opportunityCode":"OPP-20260401-001","stage":"won","status":"won","confidencePct":"A","amount":2800000,"expectedCloseDate":"2026-04-30","description":"外部系统回写成交结果"}'`;
  const intro =
    source.kind === "generated"
      ? `\nNo secret was configured, so one was generated and saved to ${source.path} (mode 0600).\n` +
        `It is printed this once:\n\n  X-Internal-Secret: ${source.secret}\n\nTry it:\n\n`
      : `\nUsing the secret saved in ${source.path}. Try it:\n\n`;
  process.stdout.write(`${intro}${example}\n\n`);
}

/** A secrets file others can read is a leak waiting to happen: said at start and at every reload. */
function warnIfExposed(path: string | undefined): void {
  const exposure = path === undefined ? null : secretFileExposure(path);
  if (exposure) log("warn", "secrets file can be read or written by other users; run chmod 600 on it", { path, mode: exposure });
}

/** What a SIGHUP can swap while the service runs. */
interface Live {
  verifier: SecretVerifier;
  stages: StageDictionary;
}

/** The clients behind the secrets. On PostgreSQL a secret generated by one instance would lock out the others. */
function clientsFor(config: ServeConfig, env: NodeJS.ProcessEnv, location: DatabaseLocation): { clients: Client[]; source: SecretSource } {
  if (location.kind === "postgres" && !config.secretsFile && !env.INTERNAL_SECRET) {
    throw new UsageError("on PostgreSQL give the secrets with --secrets / SECRETS_FILE or INTERNAL_SECRET: every instance needs the same ones");
  }
  return resolveClients({ secretsFile: config.secretsFile, envSecret: env.INTERNAL_SECRET, dbPath: location.kind === "sqlite" ? location.path : "" });
}

const writerOptions = (config: ServeConfig): GroupCommitOptions => ({
  maxBatch: config.groupCommitMaxBatch,
  batchWaitMs: config.groupCommitWaitMs,
  idempotencyTtlHours: config.idempotencyTtlHours,
  idempotencyMaxKeysPerClient: config.idempotencyMaxKeysPerClient,
});

/** Forgets expired idempotency keys now and every PRUNE_EVERY_MS; returns the timer. */
async function startPruning(backend: ServiceBackend, ttlHours: number): Promise<ReturnType<typeof setInterval>> {
  const prune = async () => {
    try {
      const pruned = await backend.writer.pruneIdempotencyKeys(new Date(Date.now() - ttlHours * 3_600_000));
      if (pruned > 0) log("info", "idempotency keys pruned", { count: pruned });
    } catch (error) {
      log("warn", "pruning idempotency keys failed; will retry", { reason: (error as Error).message });
    }
  };
  await prune();
  const timer = setInterval(prune, PRUNE_EVERY_MS);
  timer.unref();
  return timer;
}

/** The live event streams: told of this process's commits at once, of everyone else's by the database. */
function eventStreamHub(config: ServeConfig, backend: ServiceBackend): EventStreamHub {
  const onReadError = (error: unknown) => log("warn", "live event streams cannot read new events; retrying", { reason: (error as Error).message });
  const onStalled = () => log("info", "live event stream closed: its consumer stopped reading (it resumes with Last-Event-ID)");
  const limits = { maxStreams: config.maxStreams, heartbeatMs: config.streamHeartbeatSeconds * 1000 };
  return new EventStreamHub(streamSourceOf(backend.storage, { onReadError, onStalled }), limits);
}

/** The HTTP app over the backend, with the metrics fed by its commits. `server`: the server, once it listens. */
function buildApp(config: ServeConfig, backend: ServiceBackend, live: Live, server: () => ReturnType<typeof Bun.serve> | undefined) {
  const metrics = new ServiceMetrics({ ...backend.metrics, countOpportunities: () => backend.storage.countOpportunities() });
  const eventStreams = eventStreamHub(config, backend);
  backend.writer.onCommit = (seconds, types) => {
    metrics.recordCommit(seconds, types);
    backend.noteCommit();
    if (types.length > 0) eventStreams.wake();
  };
  const app = createApp({
    writer: backend.writer,
    storage: backend.storage,
    verifier: () => live.verifier,
    stages: () => live.stages,
    timeZone: config.timeZone,
    bodyLimit: config.bodyLimit,
    batchMaxItems: config.batchMaxItems,
    version: packageJson.version,
    docs: config.docs,
    readiness: () => backend.storage.readiness(),
    onStorageUnavailable: (error) => {
      backend.noteStorageFailure(error);
      log("error", "database cannot take writes", { databaseCode: error.code, cause: (error.cause as Error)?.message });
    },
    metrics,
    authThrottle: new AuthThrottle({ limit: config.authFailureLimit, windowMs: config.authLockoutSeconds * 1000, lockoutMs: config.authLockoutSeconds * 1000 }),
    trustedProxies: TrustedProxies.parse(config.trustedProxies ?? ""),
    onUnexpectedError: (error, request) => log("error", "unexpected error", { method: request.method, path: pathOf(request), error }),
    eventStreams,
    // A stream may be quiet for a whole heartbeat (15 s by default); Bun's idle timeout (10 s) must not close it.
    onEventStreamOpen: (request) => server()?.timeout(request, 0),
  });
  return { app, metrics };
}

/** SIGHUP: both files are read before either is swapped in, so a bad file leaves everything as it was. */
function reloader(config: ServeConfig, source: SecretSource, live: Live): () => void {
  return () => {
    try {
      const nextClients = config.secretsFile ? readSecretsFile(config.secretsFile) : null;
      const nextStages = config.stagesFile ? loadStageDictionary(config.stagesFile) : null;
      if (nextClients) {
        live.verifier = new SecretVerifier(nextClients);
        warnIfExposed(config.secretsFile);
      }
      if (nextStages) live.stages = nextStages;
      log("info", "configuration reloaded", {
        secrets: nextClients ? nextClients.map((client) => ({ name: client.name, role: client.role })) : `not from a file (${source.kind}): unchanged`,
        stages: nextStages ? nextStages.stages.length : "built-in: unchanged",
      });
    } catch (error) {
      log("warn", "reload failed; keeping the previous secrets and stages", { reason: (error as Error).message });
    }
  };
}

function listen(config: ServeConfig, built: ReturnType<typeof buildApp>): ReturnType<typeof Bun.serve> {
  const { app, metrics } = built;
  try {
    return Bun.serve({
      port: config.port,
      hostname: config.host,
      fetch: instrument(
        (request, server) => {
          noteClientAddress(request, () => server?.requestIP(request)?.address);
          return app.handle(request);
        },
        { routes: app.routeTable, metrics },
      ),
      // Bun's own limit answers 413 with an empty body, before authentication. Ours (json-body.ts) answers in
      // the envelope, after the secret, and reads at most a few MiB of an oversize body: Bun's is out of reach.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    });
  } catch (error) {
    throw new UsageError(`cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`);
  }
}

/** Stops accepting and lets requests in flight finish, but not forever: a stuck client must not hold a deploy. */
async function drain(server: ReturnType<typeof Bun.serve>, timeoutMs: number): Promise<boolean> {
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const drained = await Promise.race([server.stop().then(() => true), new Promise<boolean>((resolve) => (deadline = setTimeout(() => resolve(false), timeoutMs)))]);
  clearTimeout(deadline);
  if (!drained) {
    log("warn", "shutdown timeout reached; closing the remaining connections", { inFlight: server.pendingRequests });
    await server.stop(true);
  }
  return drained;
}

/** The settings, or null after printing the help. Everything is checked before the database is opened. */
function parseServeArgs(args: string[], env: NodeJS.ProcessEnv) {
  const { values } = parseArgs({
    args: normalizeBooleanFlags(args, BOOLEAN_SETTINGS.map((name) => SETTINGS[name].flag)),
    options: { ...settingOptions(SERVE_SETTINGS), demo: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${SERVE_HELP}\n`);
    return null;
  }
  const settings = resolveSettings(SERVE_SETTINGS, values, env);
  return { settings, demo: values.demo === true, location: parseDatabaseLocation(settings.values.db) };
}

/** Starts the service, up to the "listening" line; returns what the stop needs. */
async function start(parsed: NonNullable<ReturnType<typeof parseServeArgs>>, env: NodeJS.ProcessEnv, setReload: (reload: () => void) => void) {
  const { settings, location } = parsed;
  const config = settings.values;
  setLogLevel(config.logLevel);
  const { clients, source } = clientsFor(config, env, location);
  const live: Live = { verifier: new SecretVerifier(clients), stages: loadStageDictionary(config.stagesFile) };
  log("info", "configuration", {
    version: packageJson.version,
    commit: BUILD_COMMIT,
    backend: location.kind,
    settings: describeSettings(settings),
    // Where the secrets come from and who the clients are; the secrets themselves are never logged.
    secrets: { source: source.kind, clients: clients.map((client) => ({ name: client.name, role: client.role })) },
    stages: live.stages.stages.length,
  });
  warnIfExposed(source.kind === "file" || source.kind === "saved" ? source.path : undefined);
  let server: ReturnType<typeof Bun.serve> | undefined;
  const backend = await openServiceBackend(location, { writer: writerOptions(config), writerThread: config.writerThread, isAlone: () => (server?.pendingRequests ?? 0) <= 1 });
  if (parsed.demo) {
    const created = await loadDemoData(backend.writer, backend.storage, { stages: live.stages, timeZone: config.timeZone });
    if (created > 0) log("info", "demo opportunities loaded", { count: created });
  }
  const pruneTimer = await startPruning(backend, config.idempotencyTtlHours);
  setReload(reloader(config, source, live));
  const built = buildApp(config, backend, live, () => server);
  try {
    server = listen(config, built);
  } catch (error) {
    // The writer thread and the pool would keep the process alive: close them with the database.
    clearInterval(pruneTimer);
    await backend.close();
    throw error;
  }
  announceSecret(source, server.port ?? config.port);
  // Last line of start-up: whoever waits for it (a supervisor, the end-to-end test) knows the port is open.
  log("info", "listening", { url: `http://${config.host}:${server.port}`, docs: config.docs ? `http://localhost:${server.port}/swagger` : "off" });
  return { server, backend, pruneTimer, config, eventStreams: built.app.eventStreams };
}

/**
 * SIGUSR2: a full garbage collection of the HTTP thread's heap, then a "memory" line. RSS alone counts garbage
 * not yet collected (a busy or CPU-starved process collects late), so it cannot tell memory the service holds
 * from memory it has let go; after the collection, `heapUsed` (JavaScript objects and the buffers they own) is
 * what is held. The writer thread's heap is its own and not collected here; it is in `rss`.
 */
function logMemory(): void {
  const before = process.memoryUsage();
  const started = performance.now();
  Bun.gc(true);
  const after = process.memoryUsage();
  log("info", "memory", {
    after: "full garbage collection",
    rss: after.rss,
    heapUsed: after.heapUsed,
    external: after.external,
    heapUsedBefore: before.heapUsed,
    rssBefore: before.rss,
    gcMs: Math.round(performance.now() - started),
  });
}

export async function serve(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // Handlers first: a signal that arrives while starting (or right after "listening") must stop cleanly, not
  // kill the process with the default action (SIGHUP's default kills a Bun process too).
  const stopSignal = new Promise<string>((resolve) => {
    for (const name of ["SIGTERM", "SIGINT"] as const) process.once(name, () => resolve(name));
  });
  let reload: () => void = () => log("info", "SIGHUP before start-up finished: nothing to reload yet");
  const onHangup = () => reload();
  process.on("SIGHUP", onHangup);
  process.on("SIGUSR2", logMemory);
  const parsed = parseServeArgs(args, env);
  if (parsed === null) return 0;
  const { server, backend, pruneTimer, config, eventStreams } = await start(parsed, env, (next) => (reload = next));

  const signal = await stopSignal;
  const stopping = performance.now();
  log("info", "stopping", { signal, inFlight: server.pendingRequests, eventStreams: eventStreams.openStreams });
  // Open streams never finish by themselves: end them first (each gets a last comment), then drain the rest.
  await eventStreams.close();
  const drained = await drain(server, config.shutdownTimeout);
  process.off("SIGHUP", onHangup);
  process.off("SIGUSR2", logMemory);
  clearInterval(pruneTimer);
  const closed = await backend.close();
  if (!closed.checkpointed) log("warn", "WAL checkpoint skipped; it will be replayed at the next start", { reason: closed.checkpointError });
  log("info", "stopped", { signal, drained, ms: Math.round(performance.now() - stopping) });
  return 0;
}
