import { parseArgs } from "node:util";
import packageJson from "../../package.json" with { type: "json" };
import { loadDemoData } from "../demo-data";
import { createApp } from "../http/app";
import { DEFAULT_BODY_LIMIT } from "../http/json-body";
import { log } from "../log";
import { resolveClients, SecretVerifier, type SecretSource } from "../secrets";
import { openServiceStore } from "../service-store";
import { loadStageDictionary } from "../stage-dictionary";
import { DATABASE_HELP, DATABASE_OPTIONS, databaseSettings, UsageError } from "./shared-options";

export const SERVE_HELP = `Usage: opportunity-service serve [options]

Serves PUT /api/opportunities/integration/update (and create, read), with docs at /swagger.

Options:
  --port N           port to listen on, 0 for any free one (env PORT, default 8080)
  --host HOST        address to listen on (env HOST, default 0.0.0.0)
${DATABASE_HELP}
  --secrets FILE     clients and their secrets, JSON [{"name":"oms","secret":"..."}] (env SECRETS_FILE)
  --demo             load a few demo opportunities when the database is empty (make run uses this)
  -h, --help         show this help

Secrets: --secrets / SECRETS_FILE, else INTERNAL_SECRET (client "default"), else a strong secret is generated,
saved beside the database as <db>.secret with mode 0600, and printed once.`;

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`invalid --port / PORT: ${text} (expected 0-65535, 0 = any free port)`);
  return port;
}

function announceSecret(source: SecretSource, port: number): void {
  const url = `http://localhost:${port}/api/opportunities/integration/update`;
  const example = `curl -X PUT '${url}' \\
  -H 'Content-Type: application/json' \\
  -H "X-Internal-Secret: SECRET" \\
  -d '{"opportunityCode":"OPP-20260401-001","stage":"won","status":"won","confidencePct":"A","amount":2800000,"expectedCloseDate":"2026-04-30","description":"外部系统回写成交结果"}'`;
  if (source.kind === "generated") {
    process.stdout.write(
      `\nNo secret was configured, so one was generated and saved to ${source.path} (mode 0600).\n` +
        `It is printed this once:\n\n  X-Internal-Secret: ${source.secret}\n\nTry it:\n\n${example.replace("SECRET", source.secret)}\n\n`,
    );
  } else if (source.kind === "saved") {
    process.stdout.write(`\nUsing the secret saved in ${source.path}. Try it:\n\n${example.replace("SECRET", `$(cat ${source.path})`)}\n\n`);
  }
}

export async function serve(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...DATABASE_OPTIONS, port: { type: "string" }, host: { type: "string" }, secrets: { type: "string" }, demo: { type: "boolean" } },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${SERVE_HELP}\n`);
    return 0;
  }
  // Handlers first: a SIGTERM that arrives while starting (or right after "listening") must stop cleanly,
  // not kill the process with the default action.
  const stopSignal = new Promise<string>((resolve) => {
    for (const name of ["SIGTERM", "SIGINT"] as const) process.once(name, () => resolve(name));
  });
  // Without a handler SIGHUP kills a Bun process; reloading configuration is not built yet.
  process.on("SIGHUP", () => log("warn", "SIGHUP ignored: configuration reload is not supported yet"));

  const settings = databaseSettings(values, env);
  const port = parsePort(values.port ?? env.PORT ?? "8080");
  const hostname = values.host ?? env.HOST ?? "0.0.0.0";
  const stages = loadStageDictionary(settings.stagesFile);
  const { clients, source } = resolveClients({ secretsFile: values.secrets ?? env.SECRETS_FILE, envSecret: env.INTERNAL_SECRET, dbPath: settings.dbPath });
  const verifier = new SecretVerifier(clients);

  const service = openServiceStore(settings.dbPath);
  if (values.demo) {
    const created = await loadDemoData(service.writer, service.opportunities, { stages, timeZone: settings.timeZone });
    if (created > 0) log("info", "demo opportunities loaded", { count: created });
  }
  const app = createApp({
    writer: service.writer,
    store: service.store,
    opportunities: service.opportunities,
    verifier: () => verifier,
    stages: () => stages,
    timeZone: settings.timeZone,
    bodyLimit: DEFAULT_BODY_LIMIT,
    version: packageJson.version,
    onUnexpectedError: (error, request) => log("error", "unexpected error", { method: request.method, url: request.url, error }),
  });

  let server: ReturnType<typeof Bun.serve>;
  try {
    // Bun's own limit answers 413 with an empty body; keep it well above ours so our envelope answers first.
    server = Bun.serve({ port, hostname, fetch: app.fetch, maxRequestBodySize: DEFAULT_BODY_LIMIT * 256 });
  } catch (error) {
    service.close();
    throw new UsageError(`cannot listen on ${hostname}:${port}: ${(error as Error).message}`);
  }
  announceSecret(source, server.port ?? port);
  // Last line of start-up: whoever waits for it (a supervisor, the end-to-end test) knows the port is open.
  log("info", "listening", {
    url: `http://${hostname}:${server.port}`,
    db: settings.dbPath,
    clients: verifier.clientNames,
    secretSource: source.kind,
    timeZone: settings.timeZone,
    docs: `http://localhost:${server.port}/swagger`,
  });

  const signal = await stopSignal;
  log("info", "stopping", { signal });
  await server.stop();
  service.close();
  log("info", "stopped");
  return 0;
}
