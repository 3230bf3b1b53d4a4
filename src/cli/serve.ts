import { parseArgs } from "node:util";
import packageJson from "../../package.json" with { type: "json" };
import { loadDemoData } from "../demo-data";
import { createApp } from "../http/app";
import { AuthThrottle } from "../http/auth-throttle";
import { instrument } from "../http/instrument";
import { noteClientAddress } from "../http/request-context";
import { pathOf } from "../http/request-target";
import { TrustedProxies } from "../http/trusted-proxies";
import { log, setLogLevel } from "../log";
import { ServiceMetrics } from "../metrics";
import { fileProbe, Readiness } from "../readiness";
import { readSecretsFile, resolveClients, secretFileExposure, SecretVerifier, type SecretSource } from "../secrets";
import { openServiceStore } from "../service-store";
import { BOOLEAN_SETTINGS, describeSettings, normalizeBooleanFlags, resolveSettings, SETTINGS, settingOptions, settingsHelp } from "../settings";
import { loadStageDictionary } from "../stage-dictionary";
import { BUILD_COMMIT } from "../version";
import { WriteWorkerClient } from "../write-worker-client";
import { UsageError } from "./shared-options";

const SERVE_SETTINGS = [
  "port",
  "host",
  "db",
  "secretsFile",
  "stagesFile",
  "timeZone",
  "bodyLimit",
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
] as const;

// Idempotency keys past their window are forgotten this often (and once at start).
const PRUNE_EVERY_MS = 10 * 60_000;

export const SERVE_HELP = `Usage: opportunity-service serve [options]

Serves PUT /api/opportunities/integration/update (and create, read, history, events), docs at /swagger,
health at /healthz and /readyz, Prometheus metrics at /metrics.

Options (a flag wins over its environment variable, which wins over the config file, then the default):
${settingsHelp(SERVE_SETTINGS)}
  --demo                   load a few demo opportunities when the database is empty (make run uses this)
  -h, --help               show this help

Secrets: --secrets / SECRETS_FILE, else INTERNAL_SECRET (client "default"), else a strong secret is generated,
saved beside the database as <db>.secret with mode 0600, and printed once.

Signals: SIGTERM or SIGINT stop accepting, finish requests in flight (up to the shutdown timeout), checkpoint
the WAL and exit 0. SIGHUP reloads the secrets file and the stages file; a bad file keeps the old ones.`;

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

export async function serve(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // Handlers first: a signal that arrives while starting (or right after "listening") must stop cleanly, not
  // kill the process with the default action (SIGHUP's default kills a Bun process too).
  const stopSignal = new Promise<string>((resolve) => {
    for (const name of ["SIGTERM", "SIGINT"] as const) process.once(name, () => resolve(name));
  });
  let reload: () => void = () => log("info", "SIGHUP before start-up finished: nothing to reload yet");
  const onHangup = () => reload();
  process.on("SIGHUP", onHangup);

  const { values } = parseArgs({
    args: normalizeBooleanFlags(args, BOOLEAN_SETTINGS.map((name) => SETTINGS[name].flag)),
    options: { ...settingOptions(SERVE_SETTINGS), demo: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${SERVE_HELP}\n`);
    return 0;
  }
  // Everything is checked before the database is opened or a port is taken: a bad setting names itself and stops.
  const settings = resolveSettings(SERVE_SETTINGS, values, env);
  const config = settings.values;
  setLogLevel(config.logLevel);
  let stages = loadStageDictionary(config.stagesFile);
  const { clients, source } = resolveClients({ secretsFile: config.secretsFile, envSecret: env.INTERNAL_SECRET, dbPath: config.db });
  let verifier = new SecretVerifier(clients);
  log("info", "configuration", {
    version: packageJson.version,
    commit: BUILD_COMMIT,
    settings: describeSettings(settings),
    // Where the secrets come from and who the clients are; the secrets themselves are never logged.
    secrets: { source: source.kind, clients: clients.map((client) => ({ name: client.name, role: client.role })) },
    stages: stages.stages.length,
  });
  warnIfExposed(source.kind === "file" || source.kind === "saved" ? source.path : undefined);

  // This connection migrates the database, loads demo data and answers reads; writes go through `writer`.
  const writerOptions = {
    maxBatch: config.groupCommitMaxBatch,
    batchWaitMs: config.groupCommitWaitMs,
    idempotencyTtlHours: config.idempotencyTtlHours,
    idempotencyMaxKeysPerClient: config.idempotencyMaxKeysPerClient,
  };
  const service = openServiceStore(config.db, { writer: writerOptions });
  if (values.demo) {
    const created = await loadDemoData(service.writer, service.opportunities, { stages, timeZone: config.timeZone });
    if (created > 0) log("info", "demo opportunities loaded", { count: created });
  }
  // The writer thread commits (and waits for fsync) while this thread goes on parsing requests.
  // A request that comes alone is committed on this thread: see write-worker-client.ts.
  let server: ReturnType<typeof Bun.serve> | undefined;
  const lone = { writer: service.writer, isAlone: () => (server?.pendingRequests ?? 0) <= 1 };
  const workerWriter = config.writerThread ? await WriteWorkerClient.start(config.db, writerOptions, lone) : undefined;
  const writer = workerWriter ?? service.writer;
  const pruneIdempotencyKeys = async () => {
    try {
      const pruned = await writer.pruneIdempotencyKeys(new Date(Date.now() - config.idempotencyTtlHours * 3_600_000));
      if (pruned > 0) log("info", "idempotency keys pruned", { count: pruned });
    } catch (error) {
      log("warn", "pruning idempotency keys failed; will retry", { reason: (error as Error).message });
    }
  };
  await pruneIdempotencyKeys();
  const pruneTimer = setInterval(pruneIdempotencyKeys, PRUNE_EVERY_MS);
  pruneTimer.unref();
  const metrics = new ServiceMetrics({
    dbPath: config.db,
    countOpportunities: () => service.opportunities.count(),
    writePaths: workerWriter && (() => workerWriter.counts),
  });
  const readiness = new Readiness(service.db, fileProbe(config.db));
  writer.onCommit = (seconds, types) => {
    metrics.recordCommit(seconds, types);
    readiness.noteCommit();
  };
  const app = createApp({
    writer,
    store: service.store,
    opportunities: service.opportunities,
    verifier: () => verifier,
    stages: () => stages,
    timeZone: config.timeZone,
    bodyLimit: config.bodyLimit,
    version: packageJson.version,
    docs: config.docs,
    readiness: () => readiness.problem(),
    onStorageUnavailable: (error) => {
      readiness.noteStorageFailure(error);
      log("error", "database cannot take writes", { sqliteCode: error.sqliteCode, cause: (error.cause as Error)?.message });
    },
    metrics,
    authThrottle: new AuthThrottle({
      limit: config.authFailureLimit,
      windowMs: config.authLockoutSeconds * 1000,
      lockoutMs: config.authLockoutSeconds * 1000,
    }),
    trustedProxies: TrustedProxies.parse(config.trustedProxies ?? ""),
    onUnexpectedError: (error, request) => log("error", "unexpected error", { method: request.method, path: pathOf(request), error }),
  });

  reload = () => {
    try {
      // Both files are read before either is swapped in: a bad file leaves everything as it was.
      const nextClients = config.secretsFile ? readSecretsFile(config.secretsFile) : null;
      const nextStages = config.stagesFile ? loadStageDictionary(config.stagesFile) : null;
      if (nextClients) {
        verifier = new SecretVerifier(nextClients);
        warnIfExposed(config.secretsFile);
      }
      if (nextStages) stages = nextStages;
      log("info", "configuration reloaded", {
        secrets: nextClients ? nextClients.map((client) => ({ name: client.name, role: client.role })) : `not from a file (${source.kind}): unchanged`,
        stages: nextStages ? nextStages.stages.length : "built-in: unchanged",
      });
    } catch (error) {
      log("warn", "reload failed; keeping the previous secrets and stages", { reason: (error as Error).message });
    }
  };

  try {
    server = Bun.serve({
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
    // The writer thread would keep the process alive: close it with the database.
    clearInterval(pruneTimer);
    await workerWriter?.close();
    service.close();
    throw new UsageError(`cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`);
  }
  announceSecret(source, server.port ?? config.port);
  // Last line of start-up: whoever waits for it (a supervisor, the end-to-end test) knows the port is open.
  log("info", "listening", {
    url: `http://${config.host}:${server.port}`,
    docs: config.docs ? `http://localhost:${server.port}/swagger` : "off",
  });

  const signal = await stopSignal;
  const stopping = performance.now();
  log("info", "stopping", { signal, inFlight: server.pendingRequests });
  // Stop accepting and let requests in flight finish, but not forever: a stuck client must not hold a deploy.
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const drained = await Promise.race([
    server.stop().then(() => true),
    new Promise<boolean>((resolve) => (deadline = setTimeout(() => resolve(false), config.shutdownTimeout))),
  ]);
  clearTimeout(deadline);
  if (!drained) {
    log("warn", "shutdown timeout reached; closing the remaining connections", { inFlight: server.pendingRequests });
    await server.stop(true);
  }
  process.off("SIGHUP", onHangup);
  clearInterval(pruneTimer);
  if (workerWriter) {
    const writerClosed = await workerWriter.close();
    if (!writerClosed.checkpointed) log("warn", "writer thread could not checkpoint the WAL", { reason: writerClosed.checkpointError });
  }
  const closed = service.close();
  if (!closed.checkpointed) log("warn", "WAL checkpoint skipped; it will be replayed at the next start", { reason: closed.checkpointError });
  log("info", "stopped", { signal, drained, ms: Math.round(performance.now() - stopping) });
  return 0;
}
