import type { LogLevel } from "./settings";

/**
 * Structured log lines on stdout, one JSON object per line. Callers pass plain fields; nothing here ever
 * receives a request's headers, so the internal secret has no way into a log line.
 */
export type { LogLevel };

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let threshold: LogLevel = "info";

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

const serialize = (_key: string, value: unknown) =>
  typeof value === "bigint" ? value.toString() : value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;

/** Whether a line at `level` would be written: lets a hot path skip building fields nobody will read. */
export const logs = (level: LogLevel) => RANK[level] >= RANK[threshold];

export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  if (!logs(level)) return;
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }, serialize)}\n`);
}
