/**
 * Structured log lines on stdout, one JSON object per line. Callers pass plain fields; nothing here ever
 * receives a request's headers, so the internal secret has no way into a log line.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }, (_key, value) =>
    typeof value === "bigint" ? value.toString() : value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value,
  );
  (level === "error" || level === "warn" ? process.stderr : process.stdout).write(`${line}\n`);
}
