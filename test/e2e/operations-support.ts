import { writeFileSync } from "node:fs";
import parsePrometheusTextFormat, { type PrometheusMetricFamily } from "parse-prometheus-text-format";
import { binary, stop, type Server } from "../support/binary";
import { waitFor } from "../support/wait-for";

export { waitFor };

/**
 * Helpers shared by the operations end-to-end tests (operations-*.test.ts): calls in the envelope, the JSON
 * log lines on stdout, metrics scrapes, and a `serve` started without the --port/--host flags that
 * startServer() always adds (to see the environment and the config file choose the port).
 */

export interface Envelope {
  code: string;
  msg: string;
  data: any;
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Envelope;
}

/** One request; `body` is sent as JSON unless it is already a string. */
export async function api(
  baseUrl: string,
  method: string,
  path: string,
  options: { secret?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.secret !== undefined) headers["x-internal-secret"] = options.secret;
  if (options.body !== undefined && headers["content-type"] === undefined) headers["content-type"] = "application/json";
  const body = options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: Envelope;
  try {
    parsed = JSON.parse(text) as Envelope;
  } catch {
    parsed = { code: "not json", msg: text.slice(0, 200), data: null };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

export const writeJson = (path: string, value: unknown) => writeFileSync(path, JSON.stringify(value, null, 2));

export type LogLine = Record<string, any>;

/** Every line of stdout that is a JSON object, parsed. */
export function logLines(output: string): LogLine[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);
}

/** The non-empty lines of stdout that are not JSON objects (the service's logs are JSON only). */
export const nonJsonLines = (output: string) => output.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("{"));

/** The settings of the start-up "configuration" line: key -> { value, source }. */
export function configurationOf(output: string): Record<string, { value: unknown; source: string }> {
  const line = logLines(output).find((entry) => entry.msg === "configuration");
  if (!line) throw new Error(`no configuration line in:\n${output}`);
  return line.settings;
}


/** SIGTERM, the exit code, then stdout up to the "stopped" line (the drain of the pipe can lag the exit) and stderr. */
export async function stopAndCollect(server: Server): Promise<{ code: number; stdout: string; stderr: string }> {
  const code = await stop(server);
  await waitFor(() => server.output().includes('"msg":"stopped"'), "the stopped log line", 5_000).catch(() => undefined);
  const stderr = await new Response(server.child.stderr).text();
  return { code, stdout: server.output(), stderr };
}

/**
 * True when something accepts a TCP connection on 127.0.0.1:port. A connection whose own port is the one it
 * dialled is TCP's "self-connect" (possible when nothing listens on a port in the ephemeral range), not a
 * listener: it counts as nothing listening.
 */
export async function isListening(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    const selfConnected = socket.localPort === port;
    socket.end();
    return !selfConnected;
  } catch {
    return false;
  }
}

export interface Spawned {
  child: Bun.Subprocess<"ignore", "pipe", "pipe">;
  stdout: () => string;
  stderr: () => string;
}

const spawned = new Set<Bun.Subprocess>();

/** `serve` with exactly these arguments (no --port/--host added), stdout and stderr drained into strings. */
export function spawnServe(args: string[], cwd: string, env: Record<string, string> = {}): Spawned {
  const child = Bun.spawn([binary, "serve", ...args], {
    cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", ...env },
  });
  spawned.add(child);
  void child.exited.then(() => spawned.delete(child));
  let out = "";
  let err = "";
  void new Response(child.stdout).body!.pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({ write: (chunk) => void (out += chunk) }));
  void new Response(child.stderr).body!.pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({ write: (chunk) => void (err += chunk) }));
  return { child, stdout: () => out, stderr: () => err };
}

/** Waits (at most 15 s) for the "listening" line and returns the port it names. */
export async function listeningPort(server: Spawned): Promise<number> {
  const pattern = /"msg":"listening","url":"http:\/\/[^"]*:(\d+)"/;
  await waitFor(() => pattern.test(server.stdout()) || server.child.exitCode !== null, "the listening log line", 15_000);
  const match = pattern.exec(server.stdout());
  if (!match) throw new Error(`server did not start:\n${server.stdout()}\n${server.stderr()}`);
  return Number(match[1]);
}

/** SIGKILLs what spawnServe started and is still running (for afterAll). */
export async function killSpawned(): Promise<void> {
  const children = [...spawned];
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
}

export interface Scrape {
  text: string;
  families: PrometheusMetricFamily[];
}

/** GET /metrics with the given headers: the exposition text and its metric families. */
export async function scrape(baseUrl: string, headers: Record<string, string>): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`, { headers });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${await response.text()}`);
  const text = await response.text();
  return { text, families: parsePrometheusTextFormat(text) };
}

const labelsMatch = (have: Record<string, string>, wanted: Record<string, string>) =>
  Object.keys(have).length === Object.keys(wanted).length && Object.entries(wanted).every(([key, value]) => have[key] === value);

/** A counter's or gauge's value for exactly these labels (0 when the series does not exist yet). */
export function sampleValue(metrics: Scrape, name: string, labels: Record<string, string> = {}): number {
  const family = metrics.families.find((candidate) => candidate.name === name);
  if (!family) throw new Error(`no metric family ${name}`);
  const sample = family.metrics.find((metric) => labelsMatch(metric.labels ?? {}, labels));
  return sample?.value === undefined ? 0 : Number(sample.value);
}

/**
 * A histogram's observation count for exactly these labels (0 when the series does not exist yet), read from
 * the `_count` line of the text: parse-prometheus-text-format folds every labelled series of a histogram into
 * one (it only handles histograms whose sole label is `le`), so it cannot tell routes apart.
 */
export function histogramCount(metrics: Scrape, name: string, labels: Record<string, string> = {}): number {
  for (const line of metrics.text.split("\n")) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== `${name}_count`) continue;
    const have: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have[pair[1]!] = pair[2]!;
    if (labelsMatch(have, labels)) return Number(match[3]);
  }
  return 0;
}
