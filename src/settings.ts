import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { TrustedProxies } from "./http/trusted-proxies";
import { DEFAULT_MAX_STREAMS, DEFAULT_STREAM_LIMITS } from "./http/event-stream-hub";
import { isUrl, maskPassword, parseDatabaseLocation } from "./storage/location";
import { assertTimeZone } from "./zoned-time";
import { DEFAULT_MAX_BATCH } from "./opportunity-writer";
import { DEFAULT_IDEMPOTENCY_MAX_KEYS } from "./idempotency";
import { DEFAULT_BATCH_MAX_ITEMS } from "./batch-update-body";

/**
 * Every setting of the service in one table: its flag, environment variable, config-file key, default and
 * check. A value comes from the first of: flag, environment, config file (`--config FILE`, JSON), default.
 * A bad value stops the command before it does anything, with a message naming the setting and where the
 * value came from.
 */
export type Source = "flag" | "env" | "config" | "default";
type Raw = string | number | boolean;

export interface SettingSpec<T> {
  /** Key in the config file and in the effective-configuration log line. */
  key: string;
  flag: string;
  env?: string;
  fallback: T;
  /** Checks and converts a raw value; throws an Error whose message says what is wrong with it. */
  parse: (raw: Raw) => T;
  /** Read when `env` is not set (e.g. DATABASE_URL after DB_PATH). */
  envFallback?: string;
  /** A path in the config file is read relative to the config file's directory (a URL is left as it is). */
  isPath?: boolean;
  help: string;
}

export class ConfigError extends Error {}

const text = (raw: Raw) => {
  if (typeof raw !== "string" || raw.trim() === "") throw new Error("must be a non-empty string");
  return raw.trim();
};

const integer = (min: number, max: number) => (raw: Raw) => {
  const value = typeof raw === "number" ? raw : /^\s*\d+\s*$/.test(String(raw)) ? Number(raw) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`must be a whole number from ${min} to ${max}`);
  return value;
};

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1048576, mb: 1048576, mib: 1048576 };

/** Bytes, as a number or with a unit: 65536, "64KiB", "1MiB". */
const bytes = (min: number, max: number) => (raw: Raw) => {
  const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(String(raw));
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  const value = match && unit !== undefined ? Number(match[1]) * unit : NaN;
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`must be a size from ${min} to ${max} bytes (e.g. 65536, 64KiB, 1MiB)`);
  return value;
};

const boolean = (raw: Raw) => {
  if (typeof raw === "boolean") return raw;
  const word = String(raw).trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(word)) return true;
  if (["false", "0", "no", "off"].includes(word)) return false;
  throw new Error("must be true or false");
};

const oneOf = <T extends string>(choices: readonly T[]) => (raw: Raw) => {
  const value = String(raw).trim().toLowerCase() as T;
  if (!choices.includes(value)) throw new Error(`must be one of ${choices.join(", ")}`);
  return value;
};

const timeZone = (raw: Raw) => {
  const zone = text(raw);
  try {
    assertTimeZone(zone);
  } catch {
    throw new Error("is not an IANA time zone (e.g. Asia/Shanghai)");
  }
  return zone;
};

/** CIDRs or addresses, checked here so that a typo stops the start instead of trusting nobody (or everybody). */
const proxyList = (raw: Raw) => {
  const list = String(raw).trim();
  TrustedProxies.parse(list);
  return list;
};

/** A SQLite file path or a PostgreSQL URL; a URL of any other scheme is refused, never taken for a file name. */
const databaseLocation = (raw: Raw) => {
  const value = text(raw);
  parseDatabaseLocation(value);
  return value;
};

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_DB_PATH = "./data/opportunities.db";

export const SETTINGS = {
  port: { key: "port", flag: "port", env: "PORT", fallback: 8080, parse: integer(0, 65535), help: "port to listen on, 0 for any free one" },
  host: { key: "host", flag: "host", env: "HOST", fallback: "0.0.0.0", parse: text, help: "address to listen on" },
  db: {
    key: "db",
    flag: "db",
    env: "DB_PATH",
    envFallback: "DATABASE_URL",
    fallback: DEFAULT_DB_PATH,
    parse: databaseLocation,
    isPath: true,
    help: "SQLite database file (not :memory:), or a postgres:// URL (env DATABASE_URL is read too, after DB_PATH)",
  },
  secretsFile: {
    key: "secretsFile",
    flag: "secrets",
    env: "SECRETS_FILE",
    fallback: undefined as string | undefined,
    parse: text,
    isPath: true,
    help: 'clients, secrets and roles: JSON [{"name","secret","role"?}]',
  },
  stagesFile: {
    key: "stagesFile",
    flag: "stages",
    env: "STAGES_FILE",
    fallback: undefined as string | undefined,
    parse: text,
    isPath: true,
    help: 'stage dictionary JSON [{"code","label"}] replacing the built-in one',
  },
  timeZone: { key: "timeZone", flag: "time-zone", env: "TIME_ZONE", fallback: "Asia/Shanghai", parse: timeZone, help: "IANA zone for times without an offset" },
  bodyLimit: { key: "bodyLimit", flag: "body-limit", env: "BODY_LIMIT", fallback: 65536, parse: bytes(1024, 16 * 1048576), help: "largest request body (bytes, or e.g. 64KiB)" },
  batchMaxItems: {
    key: "batchMaxItems",
    flag: "batch-max-items",
    env: "BATCH_MAX_ITEMS",
    fallback: DEFAULT_BATCH_MAX_ITEMS,
    parse: integer(1, 10_000),
    help: "most items of one batch update (PUT /api/opportunities/integration/batch-update); more is refused (-1), nothing written",
  },
  logLevel: { key: "logLevel", flag: "log-level", env: "LOG_LEVEL", fallback: "info" as LogLevel, parse: oneOf(LOG_LEVELS), help: "debug, info, warn or error" },
  docs: { key: "docs", flag: "docs", env: "DOCS", fallback: true, parse: boolean, help: "serve /swagger and /swagger/json; --no-docs turns them off" },
  shutdownTimeout: {
    key: "shutdownTimeoutMs",
    flag: "shutdown-timeout",
    env: "SHUTDOWN_TIMEOUT_MS",
    fallback: 10_000,
    parse: integer(0, 600_000),
    help: "on SIGTERM, how long to wait for requests in flight (ms)",
  },
  idempotencyTtlHours: {
    key: "idempotencyTtlHours",
    flag: "idempotency-ttl-hours",
    env: "IDEMPOTENCY_TTL_HOURS",
    fallback: 24,
    parse: integer(1, 24 * 365),
    help: "how long an Idempotency-Key is remembered (hours)",
  },
  idempotencyMaxKeysPerClient: {
    key: "idempotencyMaxKeysPerClient",
    flag: "idempotency-max-keys",
    env: "IDEMPOTENCY_MAX_KEYS",
    fallback: DEFAULT_IDEMPOTENCY_MAX_KEYS,
    parse: integer(1, 100_000_000),
    help: "most Idempotency-Keys one client may hold within the TTL; a new key beyond it is refused (-1), nothing stored",
  },
  groupCommitMaxBatch: {
    key: "groupCommitMaxBatch",
    flag: "group-commit-max-batch",
    env: "GROUP_COMMIT_MAX_BATCH",
    fallback: DEFAULT_MAX_BATCH,
    parse: integer(1, 10_000),
    help: "most requests committed in one transaction; 1 turns group commit off",
  },
  groupCommitWaitMs: {
    key: "groupCommitWaitMs",
    flag: "group-commit-wait-ms",
    env: "GROUP_COMMIT_WAIT_MS",
    fallback: 0,
    parse: integer(0, 1000),
    help: "how long a batch may wait for more requests (ms); 0 commits as soon as possible",
  },
  authFailureLimit: {
    key: "authFailureLimit",
    flag: "auth-failure-limit",
    env: "AUTH_FAILURE_LIMIT",
    fallback: 10,
    parse: integer(0, 1_000_000),
    help: "failed secrets per address before it is refused for a while; 0 turns this off",
  },
  authLockoutSeconds: {
    key: "authLockoutSeconds",
    flag: "auth-lockout-seconds",
    env: "AUTH_LOCKOUT_SECONDS",
    fallback: 60,
    parse: integer(1, 86_400),
    help: "how long such an address is refused, and the window its failures are counted in (s)",
  },
  trustedProxies: {
    key: "trustedProxies",
    flag: "trusted-proxies",
    env: "TRUSTED_PROXIES",
    fallback: undefined as string | undefined,
    parse: proxyList,
    help: "comma-separated CIDRs of your own reverse proxies; only for a peer among them is the client taken from X-Forwarded-For (the right-most address not among them), for the auth throttle; none by default, and then that header is ignored",
  },
  writerThread: {
    key: "writerThread",
    flag: "writer-thread",
    env: "WRITER_THREAD",
    fallback: true,
    parse: boolean,
    help: "commit batches in a separate thread, so HTTP work goes on during fsync (a write that comes alone is committed at once in-process); --no-writer-thread commits everything in-process",
  },
  maxStreams: {
    key: "maxStreams",
    flag: "max-streams",
    env: "MAX_STREAMS",
    fallback: DEFAULT_MAX_STREAMS,
    parse: integer(0, 100_000),
    help: "most live event streams (GET /api/events/stream) open at once in this process; one more is refused with HTTP 429; 0 refuses every stream",
  },
  streamHeartbeatSeconds: {
    key: "streamHeartbeatSeconds",
    flag: "stream-heartbeat-seconds",
    env: "STREAM_HEARTBEAT_SECONDS",
    fallback: DEFAULT_STREAM_LIMITS.heartbeatMs / 1000,
    parse: integer(1, 3600),
    help: "a keep-alive comment on every quiet live event stream this often (s): keep it below the idle timeout of every proxy or load balancer in front; a consumer that stops reading is disconnected after one to two of these",
  },
} satisfies Record<string, SettingSpec<unknown>>;

export type SettingName = keyof typeof SETTINGS;

/** Settings whose flag is a switch: `--docs`, `--no-docs`, `--docs false`. */
export const BOOLEAN_SETTINGS: readonly SettingName[] = ["docs", "writerThread"];
type ValueOf<N extends SettingName> = ReturnType<(typeof SETTINGS)[N]["parse"]> | (typeof SETTINGS)[N]["fallback"];
export type Settings<N extends SettingName> = { [K in N]: ValueOf<K> };

export interface Resolved<N extends SettingName> {
  values: Settings<N>;
  sources: Record<N, Source>;
}

/** The parseArgs options for a set of settings, plus --config. */
export function settingOptions(names: readonly SettingName[]) {
  const options: Record<string, { type: "string" | "boolean" }> = { config: { type: "string" } };
  for (const name of names) {
    const isBoolean = BOOLEAN_SETTINGS.includes(name);
    options[SETTINGS[name].flag] = { type: isBoolean ? "boolean" : "string" };
    if (isBoolean) options[`no-${SETTINGS[name].flag}`] = { type: "boolean" };
  }
  return options;
}

/**
 * Lets a boolean flag also be spelled with a value, as its help and the other sources allow:
 * `--docs false` and `--docs=false` become `--no-docs`, `--docs true` becomes `--docs`.
 */
export function normalizeBooleanFlags(args: readonly string[], flags: readonly string[]): string[] {
  const out: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    const flag = flags.find((name) => arg === `--${name}` || arg.startsWith(`--${name}=`));
    if (!flag) {
      out.push(arg);
      continue;
    }
    let value: string | undefined = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : undefined;
    if (value === undefined && /^(true|false|1|0|yes|no|on|off)$/i.test(args[index + 1] ?? "")) value = args[++index];
    let on = true;
    if (value !== undefined) {
      try {
        on = boolean(value);
      } catch (error) {
        throw new ConfigError(`invalid ${flag} (--${flag}): ${JSON.stringify(value)} ${(error as Error).message}`);
      }
    }
    out.push(on ? `--${flag}` : `--no-${flag}`);
  }
  return out;
}

/** Every key a config file may hold: one file configures every command (see resolveSettings). */
const CONFIG_KEYS: ReadonlySet<string> = new Set(Object.values(SETTINGS).map((spec) => spec.key));

/** Help lines for a set of settings: flag, env, default. */
export function settingsHelp(names: readonly SettingName[]): string {
  const lines = names.map((name) => {
    const spec: SettingSpec<unknown> = SETTINGS[name];
    const flag = BOOLEAN_SETTINGS.includes(name) ? `--${spec.flag} [true|false]` : `--${spec.flag} VALUE`;
    const fallback = spec.fallback === undefined ? "" : `, default ${String(spec.fallback)}`;
    return `  ${flag.padEnd(24)} ${spec.help} (env ${spec.env}${fallback})`;
  });
  const keys = names.map((name) => SETTINGS[name].key).join(", ");
  const config =
    names.length === CONFIG_KEYS.size
      ? `JSON file with any of: ${keys} (env CONFIG_FILE)`
      : `the JSON config file serve takes (env CONFIG_FILE): this command reads ${keys} from it; ` +
        `its other settings are ignored, an unknown key is an error`;
  lines.push(`  ${"--config FILE".padEnd(24)} ${config}`);
  return lines.join("\n");
}

function readConfigFile(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? "not valid JSON";
    throw new ConfigError(`config file ${path} cannot be used: ${reason}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config file ${path} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

/**
 * Resolves the named settings from flags (parseArgs values), the environment and the config file, in that
 * order, checking each. The config file is the service's one for every command: keys of settings not named
 * here are ignored, unchecked (`verify --config` must not fail on serve's port). Unknown keys are errors: a
 * misspelt setting must not silently be its default.
 */
export function resolveSettings<N extends SettingName>(
  names: readonly N[],
  flags: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): Resolved<N> {
  const configPath = typeof flags.config === "string" ? flags.config : env.CONFIG_FILE || undefined;
  const file = configPath ? readConfigFile(configPath) : {};
  const unknown = Object.keys(file).filter((key) => !CONFIG_KEYS.has(key));
  if (unknown.length > 0) throw new ConfigError(`config file ${configPath}: unknown setting(s) ${unknown.join(", ")}; known: ${[...CONFIG_KEYS].join(", ")}`);

  const values = {} as Settings<N>;
  const sources = {} as Record<N, Source>;
  for (const name of names) {
    const spec: SettingSpec<unknown> = SETTINGS[name];
    let raw: Raw | undefined;
    let source: Source = "default";
    let envName = spec.env;
    const flag = BOOLEAN_SETTINGS.includes(name) && flags[`no-${spec.flag}`] === true ? false : flags[spec.flag];
    if (flag !== undefined) [raw, source] = [flag, "flag"];
    else if (spec.env && env[spec.env] !== undefined && env[spec.env] !== "") [raw, source] = [env[spec.env]!, "env"];
    else if (spec.envFallback && env[spec.envFallback] !== undefined && env[spec.envFallback] !== "") [raw, source, envName] = [env[spec.envFallback]!, "env", spec.envFallback];
    else if (file[spec.key] !== undefined) {
      const fromFile = file[spec.key];
      if (typeof fromFile !== "string" && typeof fromFile !== "number" && typeof fromFile !== "boolean") {
        throw new ConfigError(`invalid ${spec.key} in config file ${configPath}: must be a string, number or boolean`);
      }
      [raw, source] = [fromFile, "config"];
    }
    let value: unknown = spec.fallback;
    if (raw !== undefined) {
      try {
        value = spec.parse(raw);
      } catch (error) {
        const where = source === "flag" ? `--${spec.flag}` : source === "env" ? `env ${envName}` : `"${spec.key}" in config file ${configPath}`;
        // A database URL may carry a password: never echo it.
        throw new ConfigError(`invalid ${spec.key} (${where}): ${maskPassword(JSON.stringify(raw))} ${(error as Error).message}`);
      }
      if (spec.isPath && source === "config" && typeof value === "string" && !isAbsolute(value) && !isUrl(value)) value = resolve(dirname(configPath!), value);
    }
    (values as Record<string, unknown>)[name] = value;
    sources[name] = source;
  }
  return { values, sources };
}

/** The effective configuration for the start-up log: values with where each came from; paths, never contents. */
export function describeSettings<N extends SettingName>(resolved: Resolved<N>): Record<string, { value: unknown; source: Source }> {
  const description: Record<string, { value: unknown; source: Source }> = {};
  for (const name of Object.keys(resolved.values) as N[]) {
    const value = resolved.values[name] ?? null;
    // A database URL may carry a password: the log shows it masked.
    description[SETTINGS[name].key] = { value: typeof value === "string" ? maskPassword(value) : value, source: resolved.sources[name] };
  }
  return description;
}
