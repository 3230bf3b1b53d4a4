import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, DEFAULT_DB_PATH, describeSettings, resolveSettings, SETTINGS, settingOptions, type SettingName, type Source } from "../../src/settings";
import { makeTempDir } from "../support/temp-dir";

// Configuration: flag > environment > config file (--config / CONFIG_FILE) > default, for every setting.

const ALL = Object.keys(SETTINGS) as SettingName[];
const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function tempDir(): string {
  const dir = makeTempDir("ops-settings-");
  cleanups.push(dir.cleanup);
  return dir.path;
}

/** Writes a JSON config file (in its own sub-directory, so relative paths have something to resolve against). */
function configFile(content: unknown, name = "service.json"): string {
  const dir = join(tempDir(), "conf");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

type Flags = Record<string, string | boolean | undefined>;

function resolveOne(name: SettingName, flags: Flags, env: Record<string, string>): { value: unknown; source: Source } {
  const resolved = resolveSettings([name], flags, env);
  return { value: (resolved.values as Record<string, unknown>)[name], source: resolved.sources[name] };
}

/** The ConfigError a call throws (fails the test when it throws nothing or something else). */
function configError(work: () => unknown): ConfigError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

interface Layers {
  /** Value written in the config file. */
  config: unknown;
  /** Expected value when it comes from the config file (`dir` is the config file's directory). */
  fromConfig: (dir: string) => unknown;
  env: string;
  fromEnv: unknown;
  flags: Flags;
  fromFlag: unknown;
  fallback: unknown;
}

// Three different valid values per setting, so that the winning layer is visible in the value.
const LAYERS: Record<SettingName, Layers> = {
  port: { config: 1111, fromConfig: () => 1111, env: "2222", fromEnv: 2222, flags: { port: "3333" }, fromFlag: 3333, fallback: 8080 },
  host: { config: "10.0.0.1", fromConfig: () => "10.0.0.1", env: "10.0.0.2", fromEnv: "10.0.0.2", flags: { host: "127.0.0.1" }, fromFlag: "127.0.0.1", fallback: "0.0.0.0" },
  db: {
    config: "data/from-config.db",
    fromConfig: (dir) => join(dir, "data/from-config.db"),
    // Relative paths from env and flags stay relative to the working directory: only the file's are rebased.
    env: "env/from-env.db",
    fromEnv: "env/from-env.db",
    flags: { db: "from-flag.db" },
    fromFlag: "from-flag.db",
    fallback: DEFAULT_DB_PATH,
  },
  secretsFile: {
    config: "./secrets.json",
    fromConfig: (dir) => join(dir, "secrets.json"),
    env: "/etc/opp/secrets-env.json",
    fromEnv: "/etc/opp/secrets-env.json",
    flags: { secrets: "/etc/opp/secrets-flag.json" },
    fromFlag: "/etc/opp/secrets-flag.json",
    fallback: undefined,
  },
  stagesFile: {
    config: "../shared/stages.json",
    fromConfig: (dir) => resolve(dir, "../shared/stages.json"),
    env: "/etc/opp/stages-env.json",
    fromEnv: "/etc/opp/stages-env.json",
    flags: { stages: "/etc/opp/stages-flag.json" },
    fromFlag: "/etc/opp/stages-flag.json",
    fallback: undefined,
  },
  timeZone: { config: "Europe/Paris", fromConfig: () => "Europe/Paris", env: "America/New_York", fromEnv: "America/New_York", flags: { "time-zone": "UTC" }, fromFlag: "UTC", fallback: "Asia/Shanghai" },
  bodyLimit: { config: "2KiB", fromConfig: () => 2048, env: "1MiB", fromEnv: 1048576, flags: { "body-limit": "65537" }, fromFlag: 65537, fallback: 65536 },
  batchMaxItems: { config: 50, fromConfig: () => 50, env: "100", fromEnv: 100, flags: { "batch-max-items": "2" }, fromFlag: 2, fallback: 200 },
  logLevel: { config: "warn", fromConfig: () => "warn", env: "error", fromEnv: "error", flags: { "log-level": "debug" }, fromFlag: "debug", fallback: "info" },
  docs: { config: false, fromConfig: () => false, env: "on", fromEnv: true, flags: { "no-docs": true }, fromFlag: false, fallback: true },
  shutdownTimeout: { config: 1500, fromConfig: () => 1500, env: "2500", fromEnv: 2500, flags: { "shutdown-timeout": "3500" }, fromFlag: 3500, fallback: 10_000 },
  idempotencyTtlHours: { config: 48, fromConfig: () => 48, env: "72", fromEnv: 72, flags: { "idempotency-ttl-hours": "96" }, fromFlag: 96, fallback: 24 },
  idempotencyMaxKeysPerClient: { config: 500, fromConfig: () => 500, env: "1000", fromEnv: 1000, flags: { "idempotency-max-keys": "2000" }, fromFlag: 2000, fallback: 100_000 },
  groupCommitMaxBatch: { config: 16, fromConfig: () => 16, env: "32", fromEnv: 32, flags: { "group-commit-max-batch": "1" }, fromFlag: 1, fallback: 256 },
  groupCommitWaitMs: { config: 5, fromConfig: () => 5, env: "10", fromEnv: 10, flags: { "group-commit-wait-ms": "20" }, fromFlag: 20, fallback: 0 },
  authFailureLimit: { config: 3, fromConfig: () => 3, env: "5", fromEnv: 5, flags: { "auth-failure-limit": "0" }, fromFlag: 0, fallback: 10 },
  authLockoutSeconds: { config: 30, fromConfig: () => 30, env: "120", fromEnv: 120, flags: { "auth-lockout-seconds": "600" }, fromFlag: 600, fallback: 60 },
  trustedProxies: {
    config: "10.0.0.0/8",
    fromConfig: () => "10.0.0.0/8",
    env: "10.0.0.1, fd00::/8",
    fromEnv: "10.0.0.1, fd00::/8",
    flags: { "trusted-proxies": "192.168.0.0/16" },
    fromFlag: "192.168.0.0/16",
    fallback: undefined,
  },
  writerThread: { config: false, fromConfig: () => false, env: "on", fromEnv: true, flags: { "no-writer-thread": true }, fromFlag: false, fallback: true },
  maxStreams: { config: 5, fromConfig: () => 5, env: "0", fromEnv: 0, flags: { "max-streams": "250" }, fromFlag: 250, fallback: 100 },
  streamHeartbeatSeconds: { config: 5, fromConfig: () => 5, env: "1", fromEnv: 1, flags: { "stream-heartbeat-seconds": "3600" }, fromFlag: 3600, fallback: 15 },
};

/** Settings present since the first release; the tests below that list whole value sets use only these. */
const CORE = ["port", "host", "db", "secretsFile", "stagesFile", "timeZone", "bodyLimit", "logLevel", "docs", "shutdownTimeout"] as const;

describe("precedence: flag > env > config file > default", () => {
  test("the table below covers every setting in SETTINGS", () => {
    expect(Object.keys(LAYERS).sort()).toEqual([...ALL].sort());
  });

  test.each(ALL)("%s", (name) => {
    const spec = SETTINGS[name];
    const layers = LAYERS[name];
    const config = configFile({ [spec.key]: layers.config });
    const configDir = join(config, "..");
    const env = { [spec.env]: layers.env };

    expect(resolveOne(name, {}, {})).toEqual({ value: layers.fallback, source: "default" });
    expect(spec.fallback).toEqual(layers.fallback as never);
    expect(resolveOne(name, { config }, {})).toEqual({ value: layers.fromConfig(configDir), source: "config" });
    expect(resolveOne(name, { config }, env)).toEqual({ value: layers.fromEnv, source: "env" });
    expect(resolveOne(name, { config, ...layers.flags }, env)).toEqual({ value: layers.fromFlag, source: "flag" });
    // The config file named by CONFIG_FILE counts exactly like --config.
    expect(resolveOne(name, {}, { CONFIG_FILE: config })).toEqual({ value: layers.fromConfig(configDir), source: "config" });
  });

  test("all settings at once: each from its own layer", () => {
    const config = configFile({ port: 1111, host: "10.0.0.1", db: "x.db" });
    const resolved = resolveSettings(CORE, { config, "log-level": "debug", docs: false }, { HOST: "10.0.0.2", TIME_ZONE: "UTC", BODY_LIMIT: "128KiB" });
    expect(resolved.values).toEqual({
      port: 1111,
      host: "10.0.0.2",
      db: join(config, "..", "x.db"),
      secretsFile: undefined,
      stagesFile: undefined,
      timeZone: "UTC",
      bodyLimit: 131072,
      logLevel: "debug",
      docs: false,
      shutdownTimeout: 10_000,
    });
    expect(resolved.sources).toEqual({
      port: "config",
      host: "env",
      db: "config",
      secretsFile: "default",
      stagesFile: "default",
      timeZone: "env",
      bodyLimit: "env",
      logLevel: "flag",
      docs: "flag",
      shutdownTimeout: "default",
    });
  });

  test("--config wins over CONFIG_FILE", () => {
    const fromEnv = configFile({ port: 1111 }, "env.json");
    const fromFlag = configFile({ port: 2222 }, "flag.json");
    expect(resolveOne("port", { config: fromFlag }, { CONFIG_FILE: fromEnv })).toEqual({ value: 2222, source: "config" });
  });

  test("an empty environment variable counts as unset", () => {
    const config = configFile({ host: "10.0.0.1" });
    expect(resolveOne("host", { config }, { HOST: "" })).toEqual({ value: "10.0.0.1", source: "config" });
    expect(resolveOne("port", {}, { PORT: "" })).toEqual({ value: 8080, source: "default" });
  });

  test("an absolute path in the config file is kept as it is", () => {
    const config = configFile({ db: "/var/lib/opp/opportunities.db" });
    expect(resolveOne("db", { config }, {})).toEqual({ value: "/var/lib/opp/opportunities.db", source: "config" });
  });

  test("a relative --config path: its paths resolve against the file's directory, from the working directory", () => {
    const config = configFile({ db: "d/x.db" });
    const relativeConfig = relative(process.cwd(), config);
    expect(relativeConfig.startsWith("/")).toBe(false);
    expect(resolveOne("db", { config: relativeConfig }, {})).toEqual({ value: join(config, "..", "d", "x.db"), source: "config" });
  });
});

describe("invalid values name the setting and where the value came from", () => {
  test("from a flag", () => {
    expect(configError(() => resolveSettings(["port"], { port: "70000" }, {})).message).toBe(
      'invalid port (--port): "70000" must be a whole number from 0 to 65535',
    );
  });

  test("from the environment", () => {
    expect(configError(() => resolveSettings(["bodyLimit"], {}, { BODY_LIMIT: "1GiB" })).message).toBe(
      'invalid bodyLimit (env BODY_LIMIT): "1GiB" must be a size from 1024 to 16777216 bytes (e.g. 65536, 64KiB, 1MiB)',
    );
  });

  test("from the config file (named with its path)", () => {
    const config = configFile({ shutdownTimeoutMs: -5 });
    expect(configError(() => resolveSettings(["shutdownTimeout"], { config }, {})).message).toBe(
      `invalid shutdownTimeoutMs ("shutdownTimeoutMs" in config file ${config}): -5 must be a whole number from 0 to 600000`,
    );
  });

  test("a bad flag fails even when env and file hold good values (the flag is what would be used)", () => {
    const config = configFile({ logLevel: "info" });
    expect(configError(() => resolveSettings(["logLevel"], { config, "log-level": "verbose" }, { LOG_LEVEL: "warn" })).message).toBe(
      'invalid logLevel (--log-level): "verbose" must be one of debug, info, warn, error',
    );
  });

  test.each([
    ["timeZone", { TIME_ZONE: "Mars/Olympus_Mons" }, /^invalid timeZone \(env TIME_ZONE\): "Mars\/Olympus_Mons" is not an IANA time zone/],
    ["host", { HOST: "   " }, /^invalid host \(env HOST\): "   " must be a non-empty string$/],
    ["docs", { DOCS: "maybe" }, /^invalid docs \(env DOCS\): "maybe" must be true or false$/],
    ["port", { PORT: "80.5" }, /^invalid port \(env PORT\): "80\.5" must be a whole number/],
    ["port", { PORT: "-1" }, /^invalid port \(env PORT\): "-1" must be a whole number/],
    ["port", { PORT: "http" }, /^invalid port \(env PORT\): "http" must be a whole number/],
    ["shutdownTimeout", { SHUTDOWN_TIMEOUT_MS: "600001" }, /^invalid shutdownTimeoutMs \(env SHUTDOWN_TIMEOUT_MS\): "600001" must be/],
    // 0 would be a heartbeat timer that never waits.
    ["streamHeartbeatSeconds", { STREAM_HEARTBEAT_SECONDS: "0" }, /^invalid streamHeartbeatSeconds \(env STREAM_HEARTBEAT_SECONDS\): "0" must be a whole number from 1 to 3600$/],
    ["trustedProxies", { TRUSTED_PROXIES: "10.0.0.0/8, 10.0.0.0/40" }, /^invalid trustedProxies \(env TRUSTED_PROXIES\): "10\.0\.0\.0\/8, 10\.0\.0\.0\/40" "10\.0\.0\.0\/40" has a prefix length outside 0-32$/],
    ["trustedProxies", { TRUSTED_PROXIES: "gateway.local" }, /^invalid trustedProxies \(env TRUSTED_PROXIES\): "gateway\.local" "gateway\.local" is not an IP address or CIDR$/],
  ] as const)("%s from env %j", (name, env, message) => {
    expect(configError(() => resolveSettings([name], {}, env)).message).toMatch(message);
  });

  test("a config value that is neither string, number nor boolean", () => {
    const config = configFile({ port: [8080] });
    expect(configError(() => resolveSettings(["port"], { config }, {})).message).toBe(
      `invalid port in config file ${config}: must be a string, number or boolean`,
    );
  });

  test("a fractional number in the config file", () => {
    const config = configFile({ port: 80.5 });
    expect(configError(() => resolveSettings(["port"], { config }, {})).message).toMatch(/^invalid port \("port" in config file .+\): 80\.5 must be a whole number/);
  });
});

describe("the config file itself", () => {
  test("an unknown key is an error naming it (a misspelt setting must not silently be its default)", () => {
    const config = configFile({ port: 9000, prot: 9001, logLvl: "debug" });
    const error = configError(() => resolveSettings(ALL, { config }, {}));
    expect(error.message).toStartWith(`config file ${config}: unknown setting(s) prot, logLvl; known: `);
    expect(error.message).toContain("shutdownTimeoutMs");
  });

  test("flag and env names are not config keys", () => {
    const config = configFile({ "body-limit": "1MiB" });
    expect(configError(() => resolveSettings(ALL, { config }, {})).message).toContain("unknown setting(s) body-limit");
    const viaEnvName = configFile({ DB_PATH: "x.db" }, "env-names.json");
    expect(configError(() => resolveSettings(ALL, { config: viaEnvName }, {})).message).toContain("unknown setting(s) DB_PATH");
  });

  test("a missing file", () => {
    const missing = join(tempDir(), "nope.json");
    expect(configError(() => resolveSettings(ALL, { config: missing }, {})).message).toBe(`config file ${missing} cannot be used: ENOENT`);
    expect(configError(() => resolveSettings(ALL, {}, { CONFIG_FILE: missing })).message).toBe(`config file ${missing} cannot be used: ENOENT`);
  });

  test("a file that is not JSON", () => {
    const config = configFile("port = 8080\n");
    expect(configError(() => resolveSettings(ALL, { config }, {})).message).toBe(`config file ${config} cannot be used: not valid JSON`);
  });

  test.each([["[]"], ["42"], ["null"], ['"port"']])("a file holding %s instead of an object", (content) => {
    const config = configFile(content);
    expect(configError(() => resolveSettings(ALL, { config }, {})).message).toBe(`config file ${config} must hold a JSON object`);
  });

  test("an empty object is fine: every setting keeps its default", () => {
    const config = configFile({});
    const resolved = resolveSettings(ALL, { config }, {});
    expect(Object.values(resolved.sources).every((source) => source === "default")).toBe(true);
    expect(resolved.values.port).toBe(8080);
  });
});

describe("sizes", () => {
  test.each([
    ["65536", 65536],
    ["64KiB", 65536],
    ["64kib", 65536],
    ["64KB", 65536],
    ["64k", 65536],
    ["1MiB", 1048576],
    ["1mb", 1048576],
    ["2M", 2097152],
    [" 8 KiB ", 8192],
    ["1024", 1024],
    ["1KiB", 1024],
    ["16MiB", 16 * 1048576],
  ] as const)("BODY_LIMIT=%j", (raw, expected) => {
    expect(resolveOne("bodyLimit", {}, { BODY_LIMIT: raw })).toEqual({ value: expected, source: "env" });
  });

  // Below the 1 KiB minimum, above the 16 MiB maximum, unknown units, fractions, junk.
  test.each(["1023", "512B", "17MiB", "1GiB", "1.5MiB", "64 KiB extra", "-64KiB", "KiB", "64XB", ""])("--body-limit %j is refused", (raw) => {
    // An empty flag is still a flag: it is refused, not taken as unset.
    expect(configError(() => resolveSettings(["bodyLimit"], { "body-limit": raw }, {})).message).toStartWith(`invalid bodyLimit (--body-limit): ${JSON.stringify(raw)}`);
  });

  test("a plain number in the config file is bytes", () => {
    const config = configFile({ bodyLimit: 4096 });
    expect(resolveOne("bodyLimit", { config }, {})).toEqual({ value: 4096, source: "config" });
  });
});

describe("booleans", () => {
  test.each([
    ["true", true],
    ["false", false],
    ["1", true],
    ["0", false],
    ["on", true],
    ["off", false],
    ["TRUE", true],
    ["Off", false],
    [" on ", true],
  ] as const)("DOCS=%j", (raw, expected) => {
    expect(resolveOne("docs", {}, { DOCS: raw })).toEqual({ value: expected, source: "env" });
  });

  test.each([true, false])("docs: %p in the config file", (value) => {
    const config = configFile({ docs: value });
    expect(resolveOne("docs", { config }, { DOCS: "" })).toEqual({ value, source: "config" });
  });

  test.each(["2", "enabled", "tru", "null"])("DOCS=%j is refused", (raw) => {
    expect(configError(() => resolveSettings(["docs"], {}, { DOCS: raw })).message).toBe(`invalid docs (env DOCS): ${JSON.stringify(raw)} must be true or false`);
  });

  test("'1' and 0 in the config file", () => {
    expect(resolveOne("docs", { config: configFile({ docs: "0" }, "a.json") }, {})).toEqual({ value: false, source: "config" });
    expect(resolveOne("docs", { config: configFile({ docs: 1 }, "b.json") }, {})).toEqual({ value: true, source: "config" });
  });
});

describe("command-line flags through parseArgs(settingOptions(...))", () => {
  const parse = (args: string[]) => parseArgs({ args, options: settingOptions(ALL), strict: true, allowPositionals: false }).values;

  test("--no-docs turns the docs off over env and config", () => {
    const config = configFile({ docs: true });
    expect(resolveOne("docs", parse(["--no-docs", "--config", config]), { DOCS: "true" })).toEqual({ value: false, source: "flag" });
  });

  test("--docs turns them on over env and config", () => {
    const config = configFile({ docs: false });
    expect(resolveOne("docs", parse(["--docs", "--config", config]), { DOCS: "off" })).toEqual({ value: true, source: "flag" });
  });

  test("no docs flag at all: the environment decides", () => {
    expect(resolveOne("docs", parse([]), { DOCS: "off" })).toEqual({ value: false, source: "env" });
  });

  test("every setting's flag is accepted by the parser and wins over env and config", () => {
    const args = ALL.flatMap((name) =>
      Object.entries(LAYERS[name].flags).flatMap(([flag, value]) => (typeof value === "boolean" ? [`--${flag}`] : [`--${flag}`, String(value)])),
    );
    const config = configFile(Object.fromEntries(ALL.map((name) => [SETTINGS[name].key, LAYERS[name].config])));
    const env = Object.fromEntries(ALL.map((name) => [SETTINGS[name].env, LAYERS[name].env]));
    const resolved = resolveSettings(ALL, parse([...args, "--config", config]), env);
    for (const name of ALL) {
      expect({ name, value: (resolved.values as Record<string, unknown>)[name], source: resolved.sources[name] }).toEqual({
        name,
        value: LAYERS[name].fromFlag,
        source: "flag",
      });
    }
  });

  test("flag values are checked like any other: --log-level WARN, --body-limit 256KiB", () => {
    const resolved = resolveSettings(["logLevel", "bodyLimit"], parse(["--log-level", "WARN", "--body-limit", "256KiB"]), {});
    expect(resolved.values).toEqual({ logLevel: "warn", bodyLimit: 262144 });
  });

  test("an unknown flag is refused by the parser", () => {
    expect(() => parse(["--prot", "1"])).toThrow();
  });
});

describe("describeSettings", () => {
  test("gives value and source per config key; an unset path is null", () => {
    const config = configFile({ stagesFile: "stages.json", shutdownTimeoutMs: 2000 });
    const resolved = resolveSettings(ALL, { config, port: "0" }, { LOG_LEVEL: "debug" });
    const description = describeSettings(resolved);
    // One entry per setting, under its config-file key.
    expect(Object.keys(description).sort()).toEqual(ALL.map((name) => SETTINGS[name].key).sort());
    expect(description).toMatchObject({
      port: { value: 0, source: "flag" },
      host: { value: "0.0.0.0", source: "default" },
      db: { value: DEFAULT_DB_PATH, source: "default" },
      secretsFile: { value: null, source: "default" },
      stagesFile: { value: join(config, "..", "stages.json"), source: "config" },
      timeZone: { value: "Asia/Shanghai", source: "default" },
      bodyLimit: { value: 65536, source: "default" },
      logLevel: { value: "debug", source: "env" },
      docs: { value: true, source: "default" },
      shutdownTimeoutMs: { value: 2000, source: "config" },
    });
    for (const name of ALL) {
      const fallback = SETTINGS[name].fallback as unknown;
      if (["port", "logLevel", "stagesFile", "shutdownTimeout"].includes(name)) continue;
      expect(description[SETTINGS[name].key]).toEqual({ value: fallback ?? null, source: "default" });
    }
  });

  test("describes only the settings that were resolved", () => {
    const resolved = resolveSettings(["db", "logLevel"], {}, { DB_PATH: "/srv/opp.db" });
    expect(describeSettings(resolved)).toEqual({ db: { value: "/srv/opp.db", source: "env" }, logLevel: { value: "info", source: "default" } });
  });
});
