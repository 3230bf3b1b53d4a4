import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { E2E_TIMEOUT, run, startServer, useBinary } from "../support/binary";
import { freePort } from "../support/free-port";
import { makeTempDir } from "../support/temp-dir";
import {
  api,
  configurationOf,
  isListening,
  killSpawned,
  listeningPort,
  logLines,
  spawnServe,
  stopAndCollect,
  writeJson,
} from "./operations-support";

// Operators configure the compiled binary by flags, environment and a JSON config file (--config FILE or
// CONFIG_FILE), in that order of precedence over the defaults; the start-up "configuration" log line shows
// each setting's value and where it came from, and the behaviour follows it.
const SECRET = "config-secret-0123456789abcdef";

/** Docs off: /swagger is no route, so it is not public either (401 without a secret, 404 with one). */
async function expectDocsOff(baseUrl: string): Promise<void> {
  expect((await fetch(`${baseUrl}/swagger`)).status).toBe(401);
  expect((await fetch(`${baseUrl}/swagger`, { headers: { "x-internal-secret": SECRET } })).status).toBe(404);
}
const work = makeTempDir("opportunity-e2e-config-");

useBinary();
afterAll(async () => {
  await killSpawned();
  work.cleanup();
});

/** A fresh directory under the file's temp dir. */
function freshDir(name: string): string {
  const path = join(work.path, name);
  mkdirSync(path, { recursive: true });
  return path;
}

/** An update whose serialised body is exactly `size` bytes (the description is padded). */
function updateOfSize(code: string, size: number): string {
  const empty = JSON.stringify({ opportunityCode: code, description: "" });
  const body = JSON.stringify({ opportunityCode: code, description: "x".repeat(size - empty.length) });
  if (Buffer.byteLength(body) !== size) throw new Error("body size arithmetic is wrong");
  return body;
}

describe("configuration precedence", () => {
  test("defaults: every setting says source default except the flags startServer passes, and the service behaves so", async () => {
    const dir = freshDir("defaults");
    const server = await startServer([], dir, { INTERNAL_SECRET: SECRET });
    try {
      const settings = configurationOf(server.output());
      expect(settings).toMatchObject({
        port: { value: 0, source: "flag" },
        host: { value: "127.0.0.1", source: "flag" },
        db: { value: "./data/opportunities.db", source: "default" },
        secretsFile: { value: null, source: "default" },
        stagesFile: { value: null, source: "default" },
        timeZone: { value: "Asia/Shanghai", source: "default" },
        bodyLimit: { value: 65536, source: "default" },
        logLevel: { value: "info", source: "default" },
        docs: { value: true, source: "default" },
        shutdownTimeoutMs: { value: 10000, source: "default" },
      });
      // Every other setting (and any added later) is at its default too.
      const notDefault = Object.entries(settings).filter(([key, setting]) => setting.source !== "default" && key !== "port" && key !== "host");
      expect(notDefault).toEqual([]);
      const line = logLines(server.output()).find((entry) => entry.msg === "configuration")!;
      expect(line.version).toBe("0.1.0");
      expect(line.commit).toBe("e2e-test");
      expect(line.secrets).toEqual({ source: "env", clients: [{ name: "default", role: "integrator" }] });
      expect(line.stages).toBe(8);
      expect(existsSync(join(dir, "data", "opportunities.db"))).toBe(true);

      // Docs on by default; the default body limit is 64 KiB.
      expect((await fetch(`${server.baseUrl}/swagger`)).status).toBe(200);
      expect((await fetch(`${server.baseUrl}/swagger/json`)).status).toBe(200);
      const created = await api(server.baseUrl, "POST", "/api/opportunities/integration/create", {
        secret: SECRET,
        body: { opportunityCode: "DEF-1", opportunityName: "默认", endCustomerName: "客户", omsPushTime: "2026-04-30 10:20:30" },
      });
      expect(created.body).toEqual({ code: "0", msg: "success", data: 1 });
      const read = await api(server.baseUrl, "GET", "/api/opportunities/DEF-1", { secret: SECRET });
      expect(read.body.data.omsPushTime).toBe("2026-04-30T10:20:30+08:00");
      const justUnder = await api(server.baseUrl, "PUT", "/api/opportunities/integration/update", { secret: SECRET, body: updateOfSize("DEF-1", 65536) });
      // Read and judged (the long description may be rejected as a field), but not refused as too large.
      expect(justUnder.status).toBe(200);
      expect(justUnder.body.msg).not.toContain("请求体过大");
      const over = await api(server.baseUrl, "PUT", "/api/opportunities/integration/update", { secret: SECRET, body: updateOfSize("DEF-1", 65537) });
      expect(over.status).toBe(413);
      expect(over.body).toEqual({ code: "-1", msg: "请求体过大，不能超过 64 KiB", data: null });
    } finally {
      await stopAndCollect(server);
    }
  }, E2E_TIMEOUT);

  test("flag beats environment beats config file beats default, setting by setting", async () => {
    const dir = freshDir("layers");
    const confDir = join(dir, "conf");
    mkdirSync(confDir);
    writeJson(join(confDir, "secrets.json"), [{ name: "from-config", secret: SECRET }]);
    const configFile = join(confDir, "service.json");
    writeJson(configFile, {
      port: 1, // flag --port 0 (startServer) wins, over env PORT too
      host: "0.0.0.0", // flag --host 127.0.0.1 wins
      db: "data/from-config.db", // config only: relative to the config file's directory
      secretsFile: "secrets.json", // config only: relative to the config file's directory
      timeZone: "Europe/Berlin", // config only
      bodyLimit: "1MiB", // env BODY_LIMIT and flag --body-limit: the flag wins
      logLevel: "error", // env LOG_LEVEL wins
      docs: false, // config only
      shutdownTimeoutMs: 600000, // env SHUTDOWN_TIMEOUT_MS wins
    });
    const server = await startServer(["--config", configFile, "--body-limit", "2KiB"], dir, {
      PORT: "1",
      BODY_LIMIT: "4096",
      LOG_LEVEL: "debug",
      SHUTDOWN_TIMEOUT_MS: "300",
      TIME_ZONE: "", // empty environment variables count as unset
    });
    let stdout = "";
    try {
      expect(configurationOf(server.output())).toMatchObject({
        port: { value: 0, source: "flag" },
        host: { value: "127.0.0.1", source: "flag" },
        db: { value: join(confDir, "data", "from-config.db"), source: "config" },
        secretsFile: { value: join(confDir, "secrets.json"), source: "config" },
        stagesFile: { value: null, source: "default" },
        timeZone: { value: "Europe/Berlin", source: "config" },
        bodyLimit: { value: 2048, source: "flag" },
        logLevel: { value: "debug", source: "env" },
        docs: { value: false, source: "config" },
        shutdownTimeoutMs: { value: 300, source: "env" },
      });
      expect(existsSync(join(confDir, "data", "from-config.db"))).toBe(true);
      expect(existsSync(join(dir, "data"))).toBe(false);

      // docs false from the config file
      await expectDocsOff(server.baseUrl);
      // secrets from the config file's secrets file: the actor is its client
      const created = await api(server.baseUrl, "POST", "/api/opportunities/integration/create", {
        secret: SECRET,
        headers: { "x-request-id": "layers-create" },
        body: { opportunityCode: "CFG-1", opportunityName: "配置", endCustomerName: "客户", omsPushTime: "2026-04-30 10:20:30" },
      });
      expect(created.body).toEqual({ code: "0", msg: "success", data: 1 });
      // time zone from the config file: a zone-less time is read in Berlin (summer time, +02:00)
      const read = await api(server.baseUrl, "GET", "/api/opportunities/CFG-1", { secret: SECRET });
      expect(read.body.data.omsPushTime).toBe("2026-04-30T10:20:30+02:00");
      // body limit from the flag (2 KiB), not the environment's 4096 or the file's 1 MiB
      const fits = await api(server.baseUrl, "PUT", "/api/opportunities/integration/update", { secret: SECRET, body: updateOfSize("CFG-1", 2048) });
      expect(fits.status).toBe(200);
      expect(fits.body.msg).not.toContain("请求体过大");
      const tooLarge = await api(server.baseUrl, "PUT", "/api/opportunities/integration/update", { secret: SECRET, body: updateOfSize("CFG-1", 3000) });
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.body.msg).toBe("请求体过大，不能超过 2 KiB");
      // log level debug from the environment: health checks (logged at debug) show up
      const health = await fetch(`${server.baseUrl}/healthz`, { headers: { "x-request-id": "layers-health" } });
      expect(health.status).toBe(200);
    } finally {
      const started = performance.now();
      const stopped = await stopAndCollect(server);
      stdout = stopped.stdout;
      expect(stopped.code).toBe(0);
      // shutdown timeout 300 ms from the environment (not the file's 600000): the process is gone quickly
      expect(performance.now() - started).toBeLessThan(5_000);
    }
    const lines = logLines(stdout);
    expect(lines.find((line) => line.requestId === "layers-health")).toMatchObject({ level: "debug", route: "/healthz", status: 200 });
    expect(lines.find((line) => line.requestId === "layers-create")).toMatchObject({ actor: "from-config", opportunityCode: "CFG-1" });
  }, E2E_TIMEOUT);

  test("without flags, the environment chooses the port over the config file (CONFIG_FILE names the file)", async () => {
    const dir = freshDir("env-port");
    const configFile = join(dir, "service.json");
    const [configPort, envPort] = [freePort(), freePort()];
    expect(configPort).not.toBe(envPort);
    writeJson(configFile, { port: configPort, host: "0.0.0.0", bodyLimit: "1MiB", docs: true, shutdownTimeoutMs: 200 });
    const server = spawnServe([], dir, {
      CONFIG_FILE: configFile,
      PORT: String(envPort),
      HOST: "127.0.0.1",
      DOCS: "false",
      BODY_LIMIT: "4KiB",
      INTERNAL_SECRET: SECRET,
    });
    try {
      expect(await listeningPort(server)).toBe(envPort);
      expect(configurationOf(server.stdout())).toMatchObject({
        port: { value: envPort, source: "env" },
        host: { value: "127.0.0.1", source: "env" },
        bodyLimit: { value: 4096, source: "env" },
        docs: { value: false, source: "env" },
        shutdownTimeoutMs: { value: 200, source: "config" },
        logLevel: { value: "info", source: "default" },
      });
      expect(await isListening(configPort)).toBe(false);
      const baseUrl = `http://127.0.0.1:${envPort}`;
      expect((await api(baseUrl, "GET", "/healthz")).body).toEqual({ code: "0", msg: "success", data: "ok" });
      await expectDocsOff(baseUrl);
      const tooLarge = await api(baseUrl, "PUT", "/api/opportunities/integration/update", { secret: SECRET, body: updateOfSize("ENV-1", 5000) });
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.body.msg).toBe("请求体过大，不能超过 4 KiB");
    } finally {
      server.child.kill("SIGTERM");
      expect(await server.child.exited).toBe(0);
    }
  }, E2E_TIMEOUT);

  test("with only the config file, the config file chooses the port; a flag beats the environment for it", async () => {
    const dir = freshDir("config-port");
    const configFile = join(dir, "service.json");
    const [configPort, envPort, flagPort] = [freePort(), freePort(), freePort()];
    writeJson(configFile, { port: configPort, host: "127.0.0.1", shutdownTimeoutMs: 200 });

    const fromFile = spawnServe(["--config", configFile], dir, { INTERNAL_SECRET: SECRET });
    try {
      expect(await listeningPort(fromFile)).toBe(configPort);
      expect(configurationOf(fromFile.stdout()).port).toEqual({ value: configPort, source: "config" });
      expect((await api(`http://127.0.0.1:${configPort}`, "GET", "/readyz")).body).toEqual({ code: "0", msg: "success", data: "ready" });
    } finally {
      fromFile.child.kill("SIGTERM");
      expect(await fromFile.child.exited).toBe(0);
    }

    const fromFlag = spawnServe(["--config", configFile, "--port", String(flagPort)], dir, { INTERNAL_SECRET: SECRET, PORT: String(envPort) });
    try {
      expect(await listeningPort(fromFlag)).toBe(flagPort);
      expect(configurationOf(fromFlag.stdout()).port).toEqual({ value: flagPort, source: "flag" });
      expect(await isListening(envPort)).toBe(false);
      expect(await isListening(configPort)).toBe(false);
    } finally {
      fromFlag.child.kill("SIGTERM");
      expect(await fromFlag.child.exited).toBe(0);
    }
  }, E2E_TIMEOUT);
});

describe("docs switch and version", () => {
  test("--no-docs: /swagger and /swagger/json are unknown paths (401 without a secret, 404 with one) and the listening line says docs off", async () => {
    const server = await startServer(["--no-docs", "--shutdown-timeout", "200"], freshDir("no-docs"), { INTERNAL_SECRET: SECRET });
    try {
      expect(configurationOf(server.output()).docs).toEqual({ value: false, source: "flag" });
      expect(logLines(server.output()).find((line) => line.msg === "listening")!.docs).toBe("off");
      for (const path of ["/swagger", "/swagger/json"]) {
        expect((await api(server.baseUrl, "GET", path)).status).toBe(401);
        const answer = await api(server.baseUrl, "GET", path, { secret: SECRET });
        expect(answer.status).toBe(404);
        expect(answer.body).toEqual({ code: "-1", msg: `接口不存在: GET ${path}`, data: null });
      }
      // the rest of the service is unaffected
      expect((await api(server.baseUrl, "GET", "/healthz")).status).toBe(200);
    } finally {
      expect((await stopAndCollect(server)).code).toBe(0);
    }
  }, E2E_TIMEOUT);

  test("--docs false (the help says docs takes true/false) turns the docs off", async () => {
    // BUG: --docs is declared as a boolean flag, so "false" is taken as a stray positional argument and the
    // process exits 2 ("Unexpected argument 'false'") instead of starting without docs, so startServer throws.
    const dir = freshDir("docs-false");
    const server = await startServer(["--docs", "false", "--shutdown-timeout", "200"], dir, { INTERNAL_SECRET: SECRET });
    try {
      expect(configurationOf(server.output()).docs).toEqual({ value: false, source: "flag" });
      await expectDocsOff(server.baseUrl);
    } finally {
      await stopAndCollect(server);
    }
  }, E2E_TIMEOUT);

  test("DOCS=false in the environment turns the docs off; --docs beats it", async () => {
    const off = await startServer(["--shutdown-timeout", "200"], freshDir("docs-env"), { INTERNAL_SECRET: SECRET, DOCS: "false" });
    try {
      expect(configurationOf(off.output()).docs).toEqual({ value: false, source: "env" });
      await expectDocsOff(off.baseUrl);
    } finally {
      await stopAndCollect(off);
    }
    const on = await startServer(["--docs", "--shutdown-timeout", "200"], freshDir("docs-env-flag"), { INTERNAL_SECRET: SECRET, DOCS: "false" });
    try {
      expect(configurationOf(on.output()).docs).toEqual({ value: true, source: "flag" });
      expect((await fetch(`${on.baseUrl}/swagger`)).status).toBe(200);
    } finally {
      await stopAndCollect(on);
    }
  }, E2E_TIMEOUT);

  test("--version and -v print the version and the build commit", async () => {
    for (const result of await Promise.all(["--version", "-v"].map((flag) => run([flag], work.path)))) {
      expect(result.code).toBe(0);
      expect(result.stdout).toBe("opportunity-service 0.1.0 (commit e2e-test)\n");
      expect(result.stderr).toBe("");
    }
  }, E2E_TIMEOUT);
});

// The README's example config file, verbatim but for its database (a relative path: beside the file). Every
// command takes it: each reads the settings it uses and ignores serve's others, unchecked (restore: none).
describe("every command takes serve's config file", () => {
  const README_EXAMPLE = { port: 8080, db: "opportunities.db", secretsFile: "secrets.json", logLevel: "info", docs: false };

  test("import, history, verify, export, backup and rebuild run with the README's example; an unknown key stops each with exit 2", async () => {
    const dir = freshDir("every-command");
    const confDir = join(dir, "conf");
    mkdirSync(confDir);
    const config = join(confDir, "service.json");
    writeJson(config, README_EXAMPLE);
    writeFileSync(join(dir, "bodies.ndjson"), `${JSON.stringify({ opportunityCode: "CFG-CLI-1", opportunityName: "n", endCustomerName: "c" })}\n`);
    const runs: [string[], (stdout: string) => void][] = [
      [["import", "bodies.ndjson"], (stdout) => expect(stdout).toBe("imported bodies.ndjson: 1 created, 0 rejected\n")],
      [["history", "CFG-CLI-1"], (stdout) => expect(stdout).toStartWith("CFG-CLI-1: 1 event(s)")],
      [["verify"], (stdout) => expect(stdout).toStartWith("OK: 1 events, 1 opportunities")],
      [["export"], (stdout) => expect(stdout.trimEnd().split("\n").map((line) => JSON.parse(line).stream_id)).toEqual(["CFG-CLI-1"])],
      [["backup", "copy.db"], (stdout) => expect(stdout).toContain("1 events, 1 opportunities, verified")],
      [["rebuild"], (stdout) => expect(stdout).toStartWith("rebuilt 1 opportunities from 1 events")],
    ];
    // import first (it makes the database) and rebuild last (it rewrites the projection); the four readers
    // between them are independent and run at once.
    const runOne = async ([args, check]: (typeof runs)[number]) => {
      const result = await run([...args, "--config", config], dir);
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 0, stderr: "" });
      check(result.stdout);
    };
    await runOne(runs[0]!);
    await Promise.all(runs.slice(1, -1).map(runOne));
    await runOne(runs.at(-1)!);
    // The database is the config file's (relative to it), not the default ./data/opportunities.db.
    expect(existsSync(join(confDir, "opportunities.db"))).toBe(true);
    expect(existsSync(join(dir, "data"))).toBe(false);

    const misspelt = join(confDir, "misspelt.json");
    writeJson(misspelt, { ...README_EXAMPLE, prot: 9000 });
    // Each stops before it touches anything: all at once.
    await Promise.all(
      runs.map(async ([ran]) => {
        // A new backup target: backup refuses an existing one before it reads any setting.
        const args = ran.map((arg) => (arg === "copy.db" ? "copy-2.db" : arg));
        const result = await run([...args, "--config", misspelt], dir);
        expect({ args, code: result.code }).toEqual({ args, code: 2 });
        expect(result.stderr).toStartWith(`error: config file ${misspelt}: unknown setting(s) prot; known: port, host, db,`);
        expect(result.stderr).toContain(`(see 'opportunity-service ${args[0]} --help')`);
      }),
    );
    expect(existsSync(join(dir, "copy-2.db"))).toBe(false);
  }, E2E_TIMEOUT);

  test("each command's --help says which settings it reads from the file", async () => {
    const [top] = await Promise.all([
      run(["--help"], work.path),
      ...["import", "history", "verify", "export", "backup", "rebuild"].map(async (command) => {
        const help = await run([command, "--help"], work.path);
        expect({ command, code: help.code }).toEqual({ command, code: 0 });
        expect(help.stdout).toContain("this command reads db, stagesFile, timeZone from it; its other settings are ignored, an unknown key is an error");
      }),
    ]);
    expect(top.stdout).toContain("All commands take --config FILE (the file serve takes; env CONFIG_FILE: each command reads the settings it uses");
  }, E2E_TIMEOUT);
});

interface BadStart {
  name: string;
  args: (dir: string) => string[];
  env?: Record<string, string>;
  /** Files to write into the case's directory first. */
  files?: Record<string, string>;
  exitCode: number;
  stderr: string[];
  /** Text that must not appear in the output (secrets from a broken file). */
  hidden?: string[];
}

const LEAKY = "leaky-secret-0123456789abcdefXYZ";

const BAD_STARTS: BadStart[] = [
  { name: "port out of range (flag)", args: () => ["--port", "65536"], exitCode: 2, stderr: ['invalid port (--port): "65536" must be a whole number from 0 to 65535'] },
  { name: "port not a number (env)", args: () => [], env: { PORT: "http" }, exitCode: 2, stderr: ['invalid port (env PORT): "http" must be a whole number from 0 to 65535'] },
  {
    name: "port negative (config file)",
    args: (dir) => ["--config", join(dir, "c.json")],
    files: { "c.json": '{"port": -1}' },
    exitCode: 2,
    stderr: ['invalid port ("port" in config file', "c.json): -1 must be a whole number from 0 to 65535"],
  },
  { name: "bad log level (flag)", args: () => ["--log-level", "verbose"], exitCode: 2, stderr: ['invalid logLevel (--log-level): "verbose" must be one of debug, info, warn, error'] },
  { name: "bad log level (env)", args: () => [], env: { LOG_LEVEL: "trace" }, exitCode: 2, stderr: ['invalid logLevel (env LOG_LEVEL): "trace"'] },
  {
    name: "unknown key in the config file",
    args: (dir) => ["--config", join(dir, "c.json")],
    files: { "c.json": '{"logLevel": "info", "prot": 8080}' },
    exitCode: 2,
    stderr: ["unknown setting(s) prot", "known: port, host, db"],
  },
  { name: "config file missing", args: (dir) => ["--config", join(dir, "missing.json")], exitCode: 2, stderr: ["missing.json cannot be used: ENOENT"] },
  { name: "config file not JSON", args: (dir) => ["--config", join(dir, "c.json")], files: { "c.json": "port = 8080" }, exitCode: 2, stderr: ["c.json cannot be used: not valid JSON"] },
  { name: "config file not an object", args: (dir) => ["--config", join(dir, "c.json")], files: { "c.json": "[8080]" }, exitCode: 2, stderr: ["c.json must hold a JSON object"] },
  {
    name: "config value of the wrong type",
    args: (dir) => ["--config", join(dir, "c.json")],
    files: { "c.json": '{"docs": "maybe"}' },
    exitCode: 2,
    stderr: ['invalid docs ("docs" in config file', '"maybe" must be true or false'],
  },
  { name: "bad time zone", args: () => ["--time-zone", "Mars/Olympus_Mons"], exitCode: 2, stderr: ['invalid timeZone (--time-zone): "Mars/Olympus_Mons" is not an IANA time zone'] },
  { name: "body limit too small", args: () => ["--body-limit", "10"], exitCode: 2, stderr: ['invalid bodyLimit (--body-limit): "10" must be a size from 1024'] },
  { name: "unknown flag", args: () => ["--prot", "8080"], exitCode: 2, stderr: ["Unknown option '--prot'"] },
  { name: "unreadable secrets file", args: (dir) => ["--secrets", join(dir, "nope.json")], exitCode: 1, stderr: ["secrets file", "nope.json cannot be read: ENOENT"] },
  {
    name: "secrets file not JSON (its text holds a secret)",
    args: (dir) => ["--secrets", join(dir, "s.json")],
    files: { "s.json": `[{"name": "oms", "secret": "${LEAKY}"},]` },
    exitCode: 1,
    stderr: ["s.json is not valid JSON"],
    hidden: [LEAKY],
  },
  {
    name: "secrets file with a short secret",
    args: (dir) => ["--secrets", join(dir, "s.json")],
    files: { "s.json": `[{"name": "oms", "secret": "${LEAKY}"}, {"name": "bid", "secret": "short-1"}]` },
    exitCode: 1,
    stderr: ['entry 2 (bid): "secret" must be at least 16 characters without spaces'],
    hidden: [LEAKY, "short-1"],
  },
  { name: "stages file missing", args: (dir) => ["--stages", join(dir, "nope.json")], exitCode: 1, stderr: ["stages file", "nope.json cannot be read"] },
  {
    name: "stages file not an array",
    args: (dir) => ["--stages", join(dir, "stages.json")],
    files: { "stages.json": '{"code": "lead", "label": "线索"}' },
    exitCode: 1,
    stderr: ["stages.json: stages must be a non-empty JSON array"],
  },
  {
    name: "stages file with a duplicate code",
    args: (dir) => ["--stages", join(dir, "stages.json")],
    files: { "stages.json": '[{"code": "lead", "label": "线索"}, {"code": "lead", "label": "再一次"}]' },
    exitCode: 1,
    stderr: ['entry 2: duplicate code "lead"'],
  },
];

describe("invalid configuration stops the process at start", () => {
  for (const [index, bad] of BAD_STARTS.entries()) {
    test(`${bad.name}: exit ${bad.exitCode}, the message names it, nothing listens, no database`, async () => {
      const dir = freshDir(`bad-${index}`);
      for (const [name, content] of Object.entries(bad.files ?? {})) writeFileSync(join(dir, name), content);
      // A fixed free port (unless the port itself is the bad setting): nothing may listen on it.
      const port = freePort();
      const args = bad.args(dir);
      const portArgs = args.includes("--port") || bad.env?.PORT !== undefined || bad.files?.["c.json"]?.includes('"port"') ? [] : ["--port", String(port)];
      const started = performance.now();
      const result = await run(["serve", "--host", "127.0.0.1", ...portArgs, ...args], dir, { INTERNAL_SECRET: SECRET, ...bad.env });
      expect(result.code).toBe(bad.exitCode);
      for (const part of bad.stderr) expect(result.stderr).toContain(part);
      expect(result.stderr).toStartWith("error: ");
      if (bad.exitCode === 2 && !bad.name.startsWith("unknown flag")) expect(result.stderr).toContain("(see 'opportunity-service serve --help')");
      expect(result.stdout).not.toContain('"msg":"listening"');
      expect(result.stdout).not.toContain('"msg":"configuration"');
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(await isListening(port)).toBe(false);
      // Everything is checked before the database is opened or a secret generated.
      expect(existsSync(join(dir, "data"))).toBe(false);
      for (const secret of bad.hidden ?? []) {
        expect(result.stdout).not.toContain(secret);
        expect(result.stderr).not.toContain(secret);
      }
    }, E2E_TIMEOUT);
  }
});
