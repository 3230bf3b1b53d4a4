/**
 * The load runs of the benchmarks: services started on their own databases (copies of one SQLite file, or fresh
 * PostgreSQL databases seeded alike), wrk driving them in interleaved rounds, and what each round cost the
 * service (and PostgreSQL) in CPU. Used by `make bench` (run-all.ts) and compare.ts.
 */
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../support/free-port";
import { backendCpu, backendCpuSpent, threadCpu, type ThreadCpu } from "./process-cpu";

export const SECRET = "bench-secret-0123456789abcdef";

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time of the service's processes (all their threads) per answered request, in µs. */
  cpuPerRequestUs: number;
  /** The same split by thread: the main (HTTP) thread, the writer thread, and the rest (JIT, GC, I/O pool). */
  cpuHttpUs: number;
  cpuWriterUs: number;
  cpuOtherUs: number;
  /** CPU time of the load generator per request: it runs on the same cores, so it counts against them too. */
  wrkCpuPerRequestUs: number;
  /** CPU time of the PostgreSQL backends serving the mode's database per request (NaN on SQLite). */
  postgresCpuPerRequestUs: number;
  /** Events appended per write transaction, the group-commit batch size (from /metrics; NaN without). */
  eventsPerTransaction: number;
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

const NO_CPU: ThreadCpu = { total: NaN, http: NaN, writer: NaN };

/** What a round measures besides wrk's own figures: the service's processes and its PostgreSQL database. */
export interface Measured {
  pids: readonly number[];
  postgresName?: string;
}

/**
 * One wrk run of `connections` over the service's instances: one thread per instance (update.lua sends thread i
 * to instance i), each with its share of the connections, so requests and latencies come out merged.
 */
export async function wrk(urls: readonly string[], connections: number, seconds: string, measured?: Measured): Promise<WrkResult> {
  const cpuBefore = measured ? threadCpu(measured.pids) : NO_CPU;
  const backendsBefore = measured?.postgresName ? backendCpu(measured.postgresName) : undefined;
  const ports = urls.map((url) => new URL(url).port).join(",");
  const child = Bun.spawn(["wrk", `-t${urls.length}`, `-c${connections}`, `-d${seconds}s`, "--latency", "-s", join(import.meta.dir, "update.lua"), urls[0]!], {
    env: { ...process.env, BENCH_SECRET: SECRET, BENCH_PORTS: urls.length > 1 ? ports : "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = await new Response(child.stdout).text();
  await child.exited;
  const cpuAfter = measured ? threadCpu(measured.pids) : NO_CPU;
  const postgresCpu = backendsBefore ? backendCpuSpent(backendsBefore, backendCpu(measured!.postgresName!)) : NaN;
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
    postgresCpuPerRequestUs: perRequest(postgresCpu),
    eventsPerTransaction: NaN,
  };
}

/**
 * Polls /healthz until the server answers (servers run with LOG_LEVEL=warn, so there is no "listening" line).
 * Any HTTP answer counts: the compiled binaries of some earlier commits (b08012d among them, fixed in 266b8c4)
 * answered /healthz with 401 while serving the update route, and compare.ts must be able to run them.
 */
export async function waitForHealth(url: string, child: Bun.Subprocess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${await new Response(child.stderr as ReadableStream).text()}`);
    if (await fetch(`${url}/healthz`).catch(() => null)) return;
    await Bun.sleep(5);
  }
  throw new Error(`server at ${url} did not answer`);
}

export const peakRss = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;

/** Imports the seed into a database, a file path or a PostgreSQL URL, with `binary import`. */
export async function importSeed(binary: string, seed: string, db: string): Promise<void> {
  const child = Bun.spawn([binary, "import", seed, "--db", db], { stdout: "ignore", stderr: "pipe" });
  if ((await child.exited) !== 0) throw new Error(await new Response(child.stderr).text());
}

/** The seed every mode's database starts from: an import file and the SQLite database made from it. */
export interface Prepared {
  /** BENCH-0000..0999 as NDJSON, for `import`. */
  seed: string;
  /** That seed imported into SQLite, made once and copied for every SQLite server. */
  template: string;
}

export async function prepareDatabase(binary: string, dir: string): Promise<Prepared> {
  const seed = join(dir, "opportunities.ndjson");
  const rows = Array.from({ length: 1000 }, (_, n) =>
    JSON.stringify({ opportunityCode: `BENCH-${String(n).padStart(4, "0")}`, opportunityName: `压测商机 ${n}`, endCustomerName: "压测客户", amount: 1000 }),
  );
  writeFileSync(seed, `${rows.join("\n")}\n`);
  const template = join(dir, "template.db");
  await importSeed(binary, seed, template);
  return { seed, template };
}

/** A mode's own database: where the service finds it, and how it is removed afterwards. */
export interface BenchDatabase {
  location: string;
  /** The PostgreSQL database's name, whose backends' CPU is measured; absent on SQLite. */
  postgresName?: string;
  drop(): Promise<void>;
}

export interface Mode {
  name: string;
  command: (db: string, port: number) => string[];
  /** Processes of the command on the one database, each loaded by its share of the connections (default 1). */
  instances?: number;
  /** The concurrencies it is measured at (default: all of the run's). */
  concurrencies?: readonly number[];
  /** Makes the mode's database from the seed (default: a copy of the SQLite template). */
  database?: (seed: string) => Promise<BenchDatabase>;
}

/** `binary serve` on the given database and port (loopback), with extra flags. */
export const serveCommand =
  (binary: string, ...flags: string[]) =>
  (db: string, port: number): string[] => [binary, "serve", "--port", String(port), "--host", "127.0.0.1", "--db", db, ...flags];

export interface RunningMode {
  mode: Mode;
  urls: string[];
  children: Bun.Subprocess[];
  database: BenchDatabase;
  /** Every round's result, by concurrency. */
  rounds: Map<number, WrkResult[]>;
}

const measures = (mode: Mode, connections: number) => mode.concurrencies?.includes(connections) ?? true;

async function copyOfTemplate(mode: Mode, prepared: Prepared, dir: string): Promise<BenchDatabase> {
  const location = join(dir, `${mode.name.replace(/\W+/g, "-")}.db`);
  copyFileSync(prepared.template, location);
  return { location, drop: async () => {} };
}

/**
 * Starts a mode's instances on its own database and warms them up (JIT, page cache) with `warmupConnections`,
 * or the first concurrency the mode is measured at. Warm up at the concurrency measured first: a warm-up of
 * fixed length writes more events through a faster mode, and a larger database makes every later commit a
 * little slower, which the comparison would count.
 */
export async function startMode(mode: Mode, prepared: Prepared, dir: string, warmupConnections: number): Promise<RunningMode> {
  const database = await (mode.database ? mode.database(prepared.seed) : copyOfTemplate(mode, prepared, dir));
  const running: RunningMode = { mode, urls: [], children: [], database, rounds: new Map() };
  try {
    for (let instance = 0; instance < (mode.instances ?? 1); instance++) {
      const port = freePort();
      running.urls.push(`http://127.0.0.1:${port}`);
      // Request log lines off (warn) in every mode alike: the comparison is of the write path, not of logging.
      const child = Bun.spawn(mode.command(database.location, port), { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, INTERNAL_SECRET: SECRET, LOG_LEVEL: "warn" } });
      running.children.push(child);
      await waitForHealth(running.urls.at(-1)!, child);
    }
    await wrk(running.urls, measures(mode, warmupConnections) ? warmupConnections : mode.concurrencies![0]!, "2");
  } catch (error) {
    await stopModes([running]);
    throw new Error(`${mode.name}: ${(error as Error).message}`, { cause: error });
  }
  return running;
}

/** A counter's value in Prometheus text (the sum over its labels); NaN when absent. */
function counterValue(text: string, name: string): number {
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))].map((match) => Number(match[1]));
  return values.length === 0 ? NaN : values.reduce((sum, value) => sum + value, 0);
}

interface WriteCounters {
  events: number;
  transactions: number;
}

/** Events appended and write transactions so far, all the instances together, from their /metrics (NaN without). */
async function writeCounters(urls: readonly string[]): Promise<WriteCounters> {
  const sum: WriteCounters = { events: 0, transactions: 0 };
  for (const url of urls) {
    const answer = await fetch(`${url}/metrics`, { headers: { "X-Internal-Secret": SECRET } }).catch(() => null);
    const text = answer?.ok ? await answer.text() : "";
    sum.events += counterValue(text, "opportunity_events_appended_total");
    sum.transactions += counterValue(text, "opportunity_write_transaction_duration_seconds_count");
  }
  return sum;
}

/** Stops every instance, then drops the modes' databases (PostgreSQL: after its sessions have ended). */
export async function stopModes(running: RunningMode[]): Promise<void> {
  for (const entry of running) for (const child of entry.children) child.kill("SIGTERM");
  await Promise.all(running.flatMap((entry) => entry.children.map((child) => child.exited)));
  await Promise.all(running.map((entry) => entry.database.drop()));
}

/**
 * "server CPU … µs/request (HTTP thread …, writer thread …, other …), PostgreSQL …, wrk … µs/request" for
 * reports; PostgreSQL only for a mode on PostgreSQL.
 */
export function describeCpu(result: WrkResult, digits = 0): string {
  const us = (value: number) => value.toFixed(digits);
  const threads = [`HTTP thread ${us(result.cpuHttpUs)}`, ...(result.cpuWriterUs > 0 ? [`writer thread ${us(result.cpuWriterUs)}`] : []), `other ${us(result.cpuOtherUs)}`];
  const postgres = Number.isFinite(result.postgresCpuPerRequestUs) ? `, PostgreSQL backends ${us(result.postgresCpuPerRequestUs)} µs/request` : "";
  return `server CPU ${us(result.cpuPerRequestUs)} µs/request (${threads.join(", ")})${postgres}, wrk ${us(result.wrkCpuPerRequestUs)} µs/request`;
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
    postgresCpuPerRequestUs: median(results.map((r) => r.postgresCpuPerRequestUs)),
    eventsPerTransaction: median(results.map((r) => r.eventsPerTransaction)),
  };
}

/**
 * All modes run side by side and are loaded in turn, round after round: this machine's speed drifts by tens
 * of percent over minutes (other tenants), and measuring one mode after the other would put that drift into
 * the ratios. Interleaved rounds spread it over every mode alike; each figure is the median of its rounds.
 * Each round starts one mode further on: a mode always loaded right after another one's fsyncs (while the disk
 * still writes back) would be measured on a busier disk than one loaded after the database-free ceiling.
 * A mode not measured at a concurrency sits that concurrency's rounds out.
 */
export async function measureInterleaved(running: RunningMode[], concurrencies: readonly number[], rounds: number, seconds: string): Promise<void> {
  for (const connections of concurrencies) {
    const loaded = running.filter((entry) => measures(entry.mode, connections));
    for (let round = 1; round <= rounds; round++) {
      const order = loaded.map((_, index) => loaded[(index + round - 1) % loaded.length]!);
      for (const entry of order) {
        const measured = { pids: entry.children.map((child) => child.pid), postgresName: entry.database.postgresName };
        const before = await writeCounters(entry.urls);
        const result = await wrk(entry.urls, connections, seconds, measured);
        const after = await writeCounters(entry.urls);
        result.eventsPerTransaction = (after.events - before.events) / (after.transactions - before.transactions);
        entry.rounds.set(connections, [...(entry.rounds.get(connections) ?? []), result]);
        console.log(`  round ${round}, ${entry.mode.name}, concurrency ${connections}: ${Math.round(result.rps)} req/s, ${describeCpu(result, 1)}`);
      }
    }
  }
}
