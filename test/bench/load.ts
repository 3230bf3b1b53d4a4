/**
 * The load runs of the benchmarks: services started on copies of one database, wrk driving them in interleaved
 * rounds, and what each round cost the service in CPU. Used by `make bench` (run-all.ts) and compare.ts.
 */
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../support/free-port";

export const SECRET = "bench-secret-0123456789abcdef";

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time of the service's process (all its threads) per answered request, in µs. */
  cpuPerRequestUs: number;
  /** The same split by thread: the main (HTTP) thread, the writer thread, and the rest (JIT, GC, I/O pool). */
  cpuHttpUs: number;
  cpuWriterUs: number;
  cpuOtherUs: number;
  /** CPU time of the load generator per request: it runs on the same cores, so it counts against them too. */
  wrkCpuPerRequestUs: number;
}

const MS_PER_UNIT: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function parseDuration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) {
    console.error(`wrk latency not understood: ${JSON.stringify(text)}`);
    return NaN;
  }
  return Number(match[1]) * MS_PER_UNIT[match[2]!]!;
}

/** User plus system CPU time in a /proc stat file, in seconds (Linux clock ticks of 10 ms). */
function statCpuSeconds(path: string): number {
  const text = readFileSync(path, "utf8");
  // After "pid (comm) " (comm may hold spaces): state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
  const fields = text.slice(text.lastIndexOf(") ") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Bun's name for a Worker's thread (the writer thread); JSC's helpers are JITWorker, HeapHelper and so on. */
const WORKER_THREAD = "Worker";

interface ThreadCpu {
  total: number;
  http: number;
  writer: number;
}

/**
 * CPU seconds of a process so far: in all (threads that have ended included), in its main thread, which
 * serves HTTP, and in its Worker threads (the writer thread).
 */
function threadCpu(pid: number): ThreadCpu {
  let writer = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() === WORKER_THREAD) writer += statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
  }
  return { total: statCpuSeconds(`/proc/${pid}/stat`), http: statCpuSeconds(`/proc/${pid}/task/${pid}/stat`), writer };
}

const NO_CPU: ThreadCpu = { total: NaN, http: NaN, writer: NaN };

export async function wrk(url: string, connections: number, seconds: string, pid?: number): Promise<WrkResult> {
  const cpuBefore = pid === undefined ? NO_CPU : threadCpu(pid);
  const child = Bun.spawn(["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", join(import.meta.dir, "update.lua"), url], {
    env: { ...process.env, BENCH_SECRET: SECRET },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = await new Response(child.stdout).text();
  await child.exited;
  const cpuAfter = pid === undefined ? NO_CPU : threadCpu(pid);
  const wrkCpu = Number(child.resourceUsage()?.cpuTime.total ?? NaN) / 1e6;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  // The "Latency Distribution" lines: a percentage at the start of a line (elsewhere "50%" can end a number).
  const p50 = parseDuration(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? "");
  const p99 = parseDuration(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? "");
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  const perRequest = (cpuSeconds: number) => (cpuSeconds * 1e6) / requests;
  const http = perRequest(cpuAfter.http - cpuBefore.http);
  const writer = perRequest(cpuAfter.writer - cpuBefore.writer);
  const total = perRequest(cpuAfter.total - cpuBefore.total);
  return {
    rps,
    p50,
    p99,
    errors,
    cpuPerRequestUs: total,
    cpuHttpUs: http,
    cpuWriterUs: writer,
    cpuOtherUs: total - http - writer,
    wrkCpuPerRequestUs: perRequest(wrkCpu),
  };
}

/** Polls /healthz until the server answers (servers run with LOG_LEVEL=warn, so there is no "listening" line). */
export async function waitForHealth(url: string, child: Bun.Subprocess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${await new Response(child.stderr as ReadableStream).text()}`);
    if ((await fetch(`${url}/healthz`).catch(() => null))?.ok) return;
    await Bun.sleep(5);
  }
  throw new Error(`server at ${url} did not answer`);
}

export const peakRss = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;

/** A database with BENCH-0000..0999 created by `binary import`, made once and copied for every server. */
export async function prepareDatabase(binary: string, dir: string): Promise<string> {
  const file = join(dir, "opportunities.ndjson");
  const rows = Array.from({ length: 1000 }, (_, n) =>
    JSON.stringify({ opportunityCode: `BENCH-${String(n).padStart(4, "0")}`, opportunityName: `压测商机 ${n}`, endCustomerName: "压测客户", amount: 1000 }),
  );
  writeFileSync(file, `${rows.join("\n")}\n`);
  const db = join(dir, "template.db");
  const child = Bun.spawn([binary, "import", file, "--db", db], { stdout: "ignore", stderr: "pipe" });
  if ((await child.exited) !== 0) throw new Error(await new Response(child.stderr).text());
  return db;
}

export type Mode = { name: string; command: (db: string, port: number) => string[] };

/** `binary serve` on the given database and port (loopback), with extra flags. */
export const serveCommand =
  (binary: string, ...flags: string[]) =>
  (db: string, port: number): string[] => [binary, "serve", "--port", String(port), "--host", "127.0.0.1", "--db", db, ...flags];

export interface RunningMode {
  mode: Mode;
  url: string;
  child: Bun.Subprocess;
  /** Every round's result, by concurrency. */
  rounds: Map<number, WrkResult[]>;
}

/**
 * Starts a mode on its own copy of the template and warms it up (JIT, page cache) with `warmupConnections`.
 * Warm up at the concurrency measured first: a warm-up of fixed length writes more events through a faster
 * mode, and a larger database makes every later commit a little slower, which the comparison would count.
 */
export async function startMode(mode: Mode, template: string, dir: string, warmupConnections: number): Promise<RunningMode> {
  const db = join(dir, `${mode.name.replace(/\W+/g, "-")}.db`);
  copyFileSync(template, db);
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  // Request log lines off (warn) in every mode alike: the comparison is of the write path, not of logging.
  const child = Bun.spawn(mode.command(db, port), { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, INTERNAL_SECRET: SECRET, LOG_LEVEL: "warn" } });
  await waitForHealth(url, child);
  await wrk(url, warmupConnections, "2");
  return { mode, url, child, rounds: new Map() };
}

export async function stopModes(running: RunningMode[]): Promise<void> {
  for (const entry of running) entry.child.kill("SIGTERM");
  await Promise.all(running.map((entry) => entry.child.exited));
}

/** "server CPU … µs/request (HTTP thread …, writer thread …, other …), wrk … µs/request" for reports. */
export function describeCpu(result: WrkResult, digits = 0): string {
  const us = (value: number) => value.toFixed(digits);
  const threads = [`HTTP thread ${us(result.cpuHttpUs)}`, ...(result.cpuWriterUs > 0 ? [`writer thread ${us(result.cpuWriterUs)}`] : []), `other ${us(result.cpuOtherUs)}`];
  return `server CPU ${us(result.cpuPerRequestUs)} µs/request (${threads.join(", ")}), wrk ${us(result.wrkCpuPerRequestUs)} µs/request`;
}

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The median of each figure over the rounds (errors: the total), and the slowest and fastest round. */
export function summary(results: WrkResult[]): WrkResult & { low: number; high: number } {
  return {
    low: Math.min(...results.map((r) => r.rps)),
    high: Math.max(...results.map((r) => r.rps)),
    rps: median(results.map((r) => r.rps)),
    p50: median(results.map((r) => r.p50)),
    p99: median(results.map((r) => r.p99)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    cpuPerRequestUs: median(results.map((r) => r.cpuPerRequestUs)),
    cpuHttpUs: median(results.map((r) => r.cpuHttpUs)),
    cpuWriterUs: median(results.map((r) => r.cpuWriterUs)),
    cpuOtherUs: median(results.map((r) => r.cpuOtherUs)),
    wrkCpuPerRequestUs: median(results.map((r) => r.wrkCpuPerRequestUs)),
  };
}

/**
 * All modes run side by side and are loaded in turn, round after round: this machine's speed drifts by tens
 * of percent over minutes (other tenants), and measuring one mode after the other would put that drift into
 * the ratios. Interleaved rounds spread it over every mode alike; each figure is the median of its rounds.
 * Each round starts one mode further on: a mode always loaded right after another one's fsyncs (while the disk
 * still writes back) would be measured on a busier disk than one loaded after the database-free ceiling.
 */
export async function measureInterleaved(running: RunningMode[], concurrencies: readonly number[], rounds: number, seconds: string): Promise<void> {
  for (const connections of concurrencies) {
    for (let round = 1; round <= rounds; round++) {
      const order = running.map((_, index) => running[(index + round - 1) % running.length]!);
      for (const entry of order) {
        const result = await wrk(entry.url, connections, seconds, entry.child.pid);
        entry.rounds.set(connections, [...(entry.rounds.get(connections) ?? []), result]);
        console.log(`  round ${round}, ${entry.mode.name}, concurrency ${connections}: ${Math.round(result.rps)} req/s, ${describeCpu(result, 1)}`);
      }
    }
  }
}
