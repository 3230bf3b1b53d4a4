/**
 * `make bench`: one run, on this machine, of everything the performance targets speak of, side by side with
 * the same load generator (wrk), written to docs/BENCHMARKS.md. A benchmark, never a test: shared machines are
 * noisy, so the numbers that matter are the ratios measured within this one run.
 *
 *   - HTTP ceiling (the real app and validation, no database) vs. the service with one transaction per
 *     request (group commit off) vs. the service with group commit, at concurrency 1, 32 and 128, all the
 *     servers up at once and loaded in turn, round after round (BENCH_ROUNDS of BENCH_SECONDS each);
 *   - in the same rounds, at concurrency 1 and 32, the service on PostgreSQL (TEST_DATABASE_URL, a fresh
 *     database per mode): one instance with group commit, one with one transaction per request, and two
 *     instances together on one database (concurrency 32 only: 16 connections each);
 *   - with BENCH_BASELINE=BINARY, that binary's SQLite group commit in the same rounds at concurrency 32, to
 *     judge a change against an earlier build;
 *   - the writer thread's floor: the SQL of a batch alone, at the batch size group commit reached
 *     (writer-floor.bench.ts), beside the writer thread's CPU per update;
 *   - batch of 100 updates vs 100 single updates over one connection, and the change stream's commit-to-arrival
 *     delay on 10 open streams at concurrency 32 (integrator-features.bench.ts);
 *   - where a durable update's time goes: the top of a CPU profile of each thread's code (profile.bench.ts);
 *   - rebuild and verify throughput over 1,000,000 events; cold start of the binary on that database;
 *   - peak RSS under load; binary size.
 */
import { copyFileSync, statSync, writeFileSync } from "node:fs";
import { cpus as cpuList, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { makeTempDir } from "../support/temp-dir";
import { freePort } from "../support/free-port";
import { describeCpu, measureInterleaved, median, peakRss, prepareDatabase, SECRET, serveCommand, startMode, stopModes, summary, waitForHealth, type Mode, type Prepared, type RunningMode, type WrkResult } from "./load";
import { describePostgres, postgresDatabase } from "./postgres-database";
import { rebuildAndVerify } from "./rebuild-verify.bench";
import { batchVersusSingle, streamDelay } from "./integrator-features.bench";
import { profileUpdates } from "./profile.bench";
import { writerFloor } from "./writer-floor.bench";

const root = resolve(import.meta.dir, "../..");
const binary = join(root, "dist/opportunity-service");
// Each mode is measured ROUNDS times per concurrency, DURATION seconds each time, interleaved with the others.
const DURATION = process.env.BENCH_SECONDS ?? "3";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = [1, 32, 128];
// PostgreSQL at the concurrencies the targets name; two instances need at least one connection each.
const POSTGRES_CONCURRENCY = [1, 32];
const BASELINE = process.env.BENCH_BASELINE;
const lines: string[] = [];
const targets: string[] = [];
const say = (line: string) => {
  console.log(line);
  lines.push(line);
};

async function coldStart(db: string): Promise<number[]> {
  const times: number[] = [];
  for (let run = 0; run < 4; run++) {
    const port = freePort();
    const started = performance.now();
    const child = Bun.spawn([binary, "serve", "--port", String(port), "--host", "127.0.0.1", "--db", db], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, INTERNAL_SECRET: SECRET, LOG_LEVEL: "warn" },
    });
    await waitForHealth(`http://127.0.0.1:${port}`, child);
    // The first start migrates the generated database; the later ones are the cold starts an operator sees.
    if (run > 0) times.push(performance.now() - started);
    child.kill("SIGTERM");
    await child.exited;
  }
  return times;
}

type Result = WrkResult & { low: number; high: number };
interface MeasuredMode {
  mode: Mode;
  results: Map<number, Result>;
  /** The largest peak RSS of its instances. */
  rss: number;
}

const CEILING = "HTTP ceiling (validation, no database)";
const SQLITE_SINGLE = "one transaction per request, in-process";
const SQLITE_SINGLE_THREAD = "one transaction per request, writer thread";
const SQLITE_GROUP = "group commit, writer thread (the default)";
const PG_GROUP = "PostgreSQL, one instance, group commit (the default)";
const PG_SINGLE = "PostgreSQL, one instance, one transaction per request";
const PG_TWO = "PostgreSQL, two instances together, group commit";
const SQLITE_BASELINE = "group commit, writer thread, baseline binary";

function benchModes(): Mode[] {
  const postgres = postgresDatabase(binary);
  return [
    { name: CEILING, command: (db, port) => [process.execPath, "run", join(import.meta.dir, "ceiling-server.ts"), String(port), db, SECRET] },
    { name: SQLITE_SINGLE, command: serveCommand(binary, "--group-commit-max-batch", "1", "--no-writer-thread") },
    { name: SQLITE_SINGLE_THREAD, command: serveCommand(binary, "--group-commit-max-batch", "1") },
    { name: SQLITE_GROUP, command: serveCommand(binary) },
    { name: PG_GROUP, command: serveCommand(binary), database: postgres, concurrencies: POSTGRES_CONCURRENCY },
    { name: PG_SINGLE, command: serveCommand(binary, "--group-commit-max-batch", "1"), database: postgres, concurrencies: POSTGRES_CONCURRENCY },
    { name: PG_TWO, command: serveCommand(binary), database: postgres, concurrencies: [32], instances: 2 },
    ...(BASELINE ? [{ name: SQLITE_BASELINE, command: serveCommand(BASELINE), concurrencies: [32] }] : []),
  ];
}

/** Starts every mode, loads them in interleaved rounds, stops them and drops their databases. */
async function measureModes(dir: string, prepared: Prepared): Promise<MeasuredMode[]> {
  const running: RunningMode[] = [];
  try {
    for (const mode of benchModes()) running.push(await startMode(mode, prepared, dir, CONCURRENCY[0]!));
    await measureInterleaved(running, CONCURRENCY, ROUNDS, DURATION);
    return running.map((entry) => ({
      mode: entry.mode,
      results: new Map([...entry.rounds].map(([connections, rounds]) => [connections, summary(rounds)] as const)),
      rss: Math.max(...entry.children.map((child) => peakRss(child.pid))),
    }));
  } finally {
    await stopModes(running);
  }
}

const resultOf = (measured: MeasuredMode[], name: string, connections: number) => measured.find((entry) => entry.mode.name === name)!.results.get(connections)!;
const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
const range = (result: Result) => `${Math.round(result.low)}–${Math.round(result.high)}`;
const latency = (result: Result | undefined) => (result ? `${result.p50.toFixed(2)} / ${result.p99.toFixed(2)}` : "—");

function reportEachMode(measured: MeasuredMode[]): void {
  for (const { mode, results } of measured) {
    for (const [connections, result] of results) {
      say(
        `  ${mode.name}, concurrency ${connections}: ${Math.round(result.rps)} req/s (rounds ${range(result)}), ` +
          `p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ${describeCpu(result)}${batch(result)}, errors ${result.errors}`,
      );
    }
  }
}

const batch = (result: Result) => (Number.isFinite(result.eventsPerTransaction) ? `, ${result.eventsPerTransaction.toFixed(1)} events per write transaction` : "");

function reportSqlite(measured: MeasuredMode[]): void {
  const at = (name: string, connections: number) => resultOf(measured, name, connections);
  say("Requests/s on SQLite (all durable: synchronous=FULL, each answer after its commit):");
  say("");
  say("| concurrency | ceiling | per-request, in-process | per-request, writer thread | group commit | group ÷ per-request in-process | group ÷ per-request thread | group ÷ ceiling |");
  say("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const connections of CONCURRENCY) {
    const [ceiling, single, singleThread, group] = [CEILING, SQLITE_SINGLE, SQLITE_SINGLE_THREAD, SQLITE_GROUP].map((name) => at(name, connections).rps);
    say(
      `| ${connections} | ${Math.round(ceiling!)} | ${Math.round(single!)} | ${Math.round(singleThread!)} | ${Math.round(group!)} | ` +
        `${(group! / single!).toFixed(1)}× | ${(group! / singleThread!).toFixed(1)}× | ${((group! / ceiling!) * 100).toFixed(0)}% |`,
    );
  }
  say("");
  const names = [CEILING, SQLITE_SINGLE, SQLITE_SINGLE_THREAD, SQLITE_GROUP];
  say("Latency p50 / p99 (ms):");
  say("");
  say(`| concurrency | ${names.join(" | ")} |`);
  say(`| --- | ${names.map(() => "---").join(" | ")} |`);
  for (const connections of CONCURRENCY) say(`| ${connections} | ${names.map((name) => latency(at(name, connections))).join(" | ")} |`);
  say("");
  const group32 = at(SQLITE_GROUP, 32);
  targets.push(
    `- durable updates at concurrency 32: ${(group32.rps / at(SQLITE_SINGLE, 32).rps).toFixed(1)}× one transaction per request in-process, ${(group32.rps / at(SQLITE_SINGLE_THREAD, 32).rps).toFixed(1)}× on the writer thread (target ≥ 6×): ${verdict(group32.rps >= 6 * at(SQLITE_SINGLE, 32).rps)}`,
    // What the cores allow: the service and wrk share them, so no mode can pass cores ÷ their CPU per request.
    `  - the cores' limit: group commit took ${group32.cpuPerRequestUs.toFixed(0)} µs of server CPU and wrk ${group32.wrkCpuPerRequestUs.toFixed(0)} µs per request; ` +
      `${cpuList().length} cores allow at most ${Math.round((cpuList().length * 1e6) / (group32.cpuPerRequestUs + group32.wrkCpuPerRequestUs))} req/s at that cost, ` +
      `with every core busy all the time; 6× would be ${Math.round(6 * at(SQLITE_SINGLE, 32).rps)} req/s`,
    `- durable updates at concurrency 32: ${((group32.rps / at(CEILING, 32).rps) * 100).toFixed(0)}% of the HTTP ceiling (issue 16's target ≥ 40%): ${verdict(group32.rps >= 0.4 * at(CEILING, 32).rps)}`,
    `- p99 at concurrency 32: ${group32.p99.toFixed(2)} ms, ${((group32.p99 / at(SQLITE_SINGLE, 32).p99) * 100).toFixed(0)}% of one transaction per request's ${at(SQLITE_SINGLE, 32).p99.toFixed(2)} ms ` +
      `(issue 16's target ≤ 40%): ${verdict(group32.p99 <= 0.4 * at(SQLITE_SINGLE, 32).p99)}`,
    `- concurrency 1: ${(at(SQLITE_GROUP, 1).rps / at(SQLITE_SINGLE, 1).rps).toFixed(3)}× per-request in-process (rounds ${range(at(SQLITE_GROUP, 1))} vs ${range(at(SQLITE_SINGLE, 1))} req/s), ` +
      `${(at(SQLITE_GROUP, 1).rps / at(SQLITE_SINGLE_THREAD, 1).rps).toFixed(3)}× per-request on the writer thread (target ≥ 1×): ${verdict(at(SQLITE_GROUP, 1).rps >= at(SQLITE_SINGLE, 1).rps)}`,
  );
  if (BASELINE) {
    const baseline = at(SQLITE_BASELINE, 32);
    say(`Baseline (BENCH_BASELINE=${BASELINE}), SQLite group commit at concurrency 32 in the same rounds: ${Math.round(baseline.rps)} req/s (rounds ${range(baseline)}), p50 ${baseline.p50.toFixed(2)} ms, p99 ${baseline.p99.toFixed(2)} ms, ${describeCpu(baseline)}; this build ÷ baseline: ${(group32.rps / baseline.rps).toFixed(3)}× req/s, ${(group32.cpuPerRequestUs / baseline.cpuPerRequestUs).toFixed(3)}× server CPU per request.`);
    say("");
    // "Within noise": the two builds' rounds overlap, so their difference is smaller than this machine's drift.
    const overlap = group32.high >= baseline.low && baseline.high >= group32.low;
    targets.push(
      `- SQLite group commit at concurrency 32, this build against the baseline build in the same rounds: ${(group32.rps / baseline.rps).toFixed(3)}× req/s (rounds ${range(group32)} vs ${range(baseline)}), ` +
        `${(group32.cpuPerRequestUs / baseline.cpuPerRequestUs).toFixed(3)}× server CPU per request, ${group32.eventsPerTransaction.toFixed(1)} vs ${baseline.eventsPerTransaction.toFixed(1)} events per write transaction (target: within noise, the rounds overlapping): ${verdict(overlap)}`,
      `- server CPU per durable update at concurrency 32 against the baseline build: ${(group32.cpuPerRequestUs / baseline.cpuPerRequestUs).toFixed(3)}× (issue 16's target ≤ 0.60×): ${verdict(group32.cpuPerRequestUs <= 0.6 * baseline.cpuPerRequestUs)}; ` +
        `writer thread ${(group32.cpuWriterUs / baseline.cpuWriterUs).toFixed(3)}× (target ≤ 0.45×): ${verdict(group32.cpuWriterUs <= 0.45 * baseline.cpuWriterUs)}`,
    );
  }
  reportWriterFloor(group32, BASELINE ? at(SQLITE_BASELINE, 32) : undefined);
}

/** The writer thread's CPU per update beside its floor: the batch's SQL alone at the same events per commit. */
function reportWriterFloor(group32: Result, baseline: Result | undefined): void {
  const perCommit = Math.max(1, Math.round(group32.eventsPerTransaction));
  const floor = writerFloor(perCommit);
  say(
    `Writer floor (writer-floor.bench.ts): the SQL of a batch of ${perCommit} updates alone (event INSERTs, projection UPDATEs, BEGIN IMMEDIATE, COMMIT with synchronous=FULL) ` +
      `took ${floor.cpuPerEventUs.toFixed(1)} µs of CPU per update; the writer thread took ${group32.cpuWriterUs.toFixed(0)} µs per request at concurrency 32 ` +
      `(${(group32.cpuWriterUs / floor.cpuPerEventUs).toFixed(2)}× the floor).`,
  );
  say("");
  if (!baseline) return;
  const target = 0.45 * baseline.cpuWriterUs;
  targets.push(
    `  - the writer's floor: the batch's SQL alone at ${perCommit} events per commit takes ${floor.cpuPerEventUs.toFixed(1)} µs of CPU per update; ` +
      `the writer target (0.45× the baseline's ${baseline.cpuWriterUs.toFixed(0)} µs) is ${target.toFixed(0)} µs, ` +
      `${target < floor.cpuPerEventUs * 1.1 ? "at or below that floor: out of reach without less SQL per update (fewer indexes or rows) or less durability" : "above that floor"}`,
  );
}

const cost = (result: Result) =>
  `${result.cpuPerRequestUs.toFixed(0)} µs of service CPU + ${result.postgresCpuPerRequestUs.toFixed(0)} µs of PostgreSQL backends + ${result.wrkCpuPerRequestUs.toFixed(0)} µs of wrk, ${result.eventsPerTransaction.toFixed(1)} events per write transaction`;

async function reportPostgres(measured: MeasuredMode[]): Promise<void> {
  const at = (name: string, connections: number) => measured.find((entry) => entry.mode.name === name)!.results.get(connections);
  say(`## HTTP on PostgreSQL: the same route and load, in the same rounds`);
  say("");
  say(`${await describePostgres()}, on the same machine. Each mode on a fresh database of its own, seeded by \`import\` with the same 1,000 opportunities, dropped afterwards.`);
  say("Two instances together: two processes of the binary on one database, one wrk process with two threads, each thread's 16 connections to one instance; wrk sums the requests and merges the latencies.");
  say("Server CPU is of both instances together; PostgreSQL backends: the CPU of the server processes serving that database (not the WAL writer, shared by the machine).");
  say("Events per write transaction: the group-commit batch size, from the instances' /metrics over each round.");
  say("");
  say("| concurrency | one instance, group commit | one instance, one transaction per request | two instances together | group ÷ per-request | two instances ÷ one |");
  say("| --- | --- | --- | --- | --- | --- |");
  for (const connections of POSTGRES_CONCURRENCY) {
    const [group, single, two] = [PG_GROUP, PG_SINGLE, PG_TWO].map((name) => at(name, connections));
    const rps = (result: Result | undefined) => (result ? String(Math.round(result.rps)) : "—");
    say(`| ${connections} | ${rps(group)} | ${rps(single)} | ${rps(two)} | ${(group!.rps / single!.rps).toFixed(1)}× | ${two ? `${(two.rps / group!.rps).toFixed(2)}×` : "—"} |`);
  }
  say("");
  say("Latency p50 / p99 (ms):");
  say("");
  say(`| concurrency | ${[PG_GROUP, PG_SINGLE, PG_TWO].join(" | ")} |`);
  say("| --- | --- | --- | --- |");
  for (const connections of POSTGRES_CONCURRENCY) say(`| ${connections} | ${[PG_GROUP, PG_SINGLE, PG_TWO].map((name) => latency(at(name, connections))).join(" | ")} |`);
  say("");
  const [group, single, two] = [PG_GROUP, PG_SINGLE, PG_TWO].map((name) => at(name, 32)!);
  targets.push(
    `- PostgreSQL at concurrency 32: group commit ${(group!.rps / single!.rps).toFixed(1)}× one transaction per request (rounds ${range(group!)} vs ${range(single!)} req/s; target ≥ 3×): ${verdict(group!.rps >= 3 * single!.rps)}`,
    `- PostgreSQL at concurrency 32: two instances together ${(two!.rps / group!.rps).toFixed(2)}× one instance (rounds ${range(two!)} vs ${range(group!)} req/s; target ≥ 0.8×): ${verdict(two!.rps >= 0.8 * group!.rps)}`,
    // Why, when it is not met: what each request cost the cores, and how large the batches were.
    `  - per request: one instance ${cost(group!)}; two instances ${cost(two!)}`,
  );
}

async function main() {
  if (!Bun.which("wrk")) throw new Error("wrk is not installed (make bench installs it from Debian's packages)");
  const started = performance.now();
  const dir = makeTempDir("opportunity-bench-http-");
  try {
    const cpu = cpuList()[0]?.model ?? "unknown";
    say(`# Benchmarks`);
    say("");
    say(`Measured ${new Date().toISOString()} by \`make bench\` on ${cpuList().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Bun ${Bun.version}, wrk on the same machine.`);
    say("Shared, noisy machine: read the ratios within this run, not the absolute numbers.");
    say("");
    say("## HTTP: PUT /api/opportunities/integration/update, every request a real change (one event)");
    say("");
    // One seed for every section: each server starts on a copy of its template (or a database seeded from it).
    const prepared = await prepareDatabase(binary, dir.path);
    const measured = await measureModes(dir.path, prepared);
    say(`Each figure: the median of ${ROUNDS} rounds of ${DURATION} s per mode and concurrency, the modes loaded in turn (interleaved); the PostgreSQL modes (below) in the same rounds.`);
    say("Server CPU: user + system time of the service's process per answered request (steadier here than req/s), split by thread;");
    say("wrk: the load generator's own CPU per request, spent on the same cores (one wrk thread per instance).");
    say("");
    reportEachMode(measured);
    say("");
    reportSqlite(measured);
    say(`Peak RSS under load (per instance): ${measured.map((entry) => `${entry.mode.name} ${(entry.rss / 1048576).toFixed(0)} MiB`).join("; ")}.`);
    say(`Errors (non-2xx or socket): ${measured.map((entry) => `${entry.mode.name} ${[...entry.results.values()].reduce((sum, r) => sum + r.errors, 0)}`).join("; ")}.`);
    say("");
    await reportPostgres(measured);
    await reportIntegratorFeatures(dir.path, prepared);
    await reportProfiles(dir.path, prepared);
    await reportStore();
    say(`- binary size: ${(statSync(binary).size / 1048576).toFixed(1)} MiB`);
    say("");
    say("## Against the targets");
    say("");
    for (const line of targets) say(line);
    say("");
    say(`(\`make bench\` took ${((performance.now() - started) / 60_000).toFixed(1)} minutes, the build excluded.)`);
    writeFileSync(join(root, "docs/BENCHMARKS.md"), `${lines.join("\n")}\n`);
    console.log("\nwritten to docs/BENCHMARKS.md");
  } finally {
    dir.cleanup();
  }
}

/** Batch against single updates, and the change stream's delay, on a fresh default (SQLite) service. */
async function reportIntegratorFeatures(dir: string, prepared: Prepared): Promise<void> {
  say("## Integrators: batch updates and the change stream (SQLite, the default service)");
  say("");
  const running = await startMode({ name: "integrator features", command: serveCommand(binary) }, prepared, dir, 32);
  try {
    const url = running.urls[0]!;
    const batch = await batchVersusSingle(url, ROUNDS, Number(DURATION));
    say(
      `- one connection, requests back to back: a batch of 100 updates ${Math.round(batch.batch)} items/s (rounds ${batch.batches.map(Math.round).join(", ")}), ` +
        `100 single updates ${Math.round(batch.single)} items/s (rounds ${batch.singles.map(Math.round).join(", ")}): ${(batch.batch / batch.single).toFixed(1)}×`,
    );
    targets.push(`- batch of 100 vs 100 single updates over one connection: ${(batch.batch / batch.single).toFixed(1)}× items/s (target ≥ 10×): ${verdict(batch.batch >= 10 * batch.single)}`);
    const stream = await streamDelay(url, DURATION);
    say(
      `- commit to arrival on 10 open change streams while wrk updates at concurrency 32 (${Math.round(stream.rps)} req/s): p50 ${stream.p50} ms, p99 ${stream.p99} ms over ${stream.events} deliveries ` +
        "(from the event's recorded time, taken just before its commit: the delay includes the commit)",
    );
    targets.push(`- change stream delay at concurrency 32 on 10 streams: p50 ${stream.p50} ms, p99 ${stream.p99} ms (the stream promises ≤ 200 ms): ${verdict(stream.p99 <= 200)}`);
    say("");
  } finally {
    await stopModes([running]);
  }
}

/** Where the time of a durable update goes: the top of a CPU profile per thread's code, with the commit measured. */
async function reportProfiles(dir: string, prepared: Prepared): Promise<void> {
  const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: root }).stdout.toString().trim() || "unknown";
  // This file is rewritten by every run: its own changes do not make the measured code another.
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/BENCHMARKS.md"], { cwd: root }).stdout.toString().trim() !== "";
  say(`## Where a durable update's time goes (profile, commit ${commit}${dirty ? " with uncommitted changes" : ""})`);
  say("");
  say(
    "`bun --cpu-prof` on the service run from source (the binary's code), wrk at concurrency 32 on the update route; self time per function, " +
      "as a share of the thread's samples (sampled wall time: a native call blocked on its fsync counts where it blocks, in `run`). " +
      "Bun profiles the main thread only: the default mode shows the HTTP thread; the writer thread's code is profiled in `--no-writer-thread` mode, where the same planning and commit run on the main thread.",
  );
  say("");
  for (const [label, flags] of [
    ["HTTP thread (the default mode)", []],
    ["writer's code (group commit on the main thread, --no-writer-thread)", ["--no-writer-thread"]],
  ] as const) {
    const db = join(dir, `profile-${flags.length}.db`);
    copyFileSync(prepared.template, db);
    const { entries, rps } = await profileUpdates(db, [...flags], DURATION);
    say(`${label}, ${Math.round(rps)} req/s while profiled:`);
    say("");
    for (const entry of entries) say(`- ${(entry.share * 100).toFixed(1)}% ${entry.name}`);
    say("");
  }
}

async function reportStore(): Promise<void> {
  say("## Event store");
  say("");
  const store = rebuildAndVerify((line) => say(`- ${line}`));
  try {
    const starts = await coldStart(store.dbPath);
    say(`- cold start of the compiled binary to its first answer (/healthz) on that ${store.events.toLocaleString("en")}-event database: median ${median(starts).toFixed(0)} ms (runs: ${starts.map((t) => t.toFixed(0)).join(", ")} ms)`);
    targets.push(`- rebuild: ${store.rebuildPerSecond} events/s (issue 16's target ≥ 600,000): ${verdict(store.rebuildPerSecond >= 600_000)}`);
    targets.push(`- verify: ${store.verifyPerSecond} events/s (issue 16's target ≥ 200,000): ${verdict(store.verifyPerSecond >= 200_000)}`);
    targets.push(`- cold start with ${store.events.toLocaleString("en")} events: ${median(starts).toFixed(0)} ms (target < 300 ms): ${median(starts) < 300 ? "met" : "NOT met"}`);
  } finally {
    store.cleanup();
  }
}

await main();
