/**
 * `make bench`: one run, on this machine, of everything the performance targets speak of, side by side with
 * the same load generator (wrk), written to docs/BENCHMARKS.md. A benchmark, never a test: shared machines are
 * noisy, so the numbers that matter are the ratios measured within this one run.
 *
 *   - HTTP ceiling (the real app and validation, no database) vs. the service with one transaction per
 *     request (group commit off) vs. the service with group commit, at concurrency 1, 32 and 128, all the
 *     servers up at once and loaded in turn, round after round (BENCH_ROUNDS of BENCH_SECONDS each);
 *   - rebuild and verify throughput over 1,000,000 events; cold start of the binary on that database;
 *   - peak RSS under load; binary size.
 */
import { statSync, writeFileSync } from "node:fs";
import { cpus as cpuList, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { makeTempDir } from "../support/temp-dir";
import { freePort } from "../support/free-port";
import { describeCpu, measureInterleaved, median, peakRss, prepareDatabase, SECRET, serveCommand, startMode, stopModes, summary, waitForHealth, type Mode, type RunningMode } from "./load";
import { rebuildAndVerify } from "./rebuild-verify.bench";

const root = resolve(import.meta.dir, "../..");
const binary = join(root, "dist/opportunity-service");
// Each mode is measured ROUNDS times per concurrency, DURATION seconds each time, interleaved with the others.
const DURATION = process.env.BENCH_SECONDS ?? "3";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = [1, 32, 128];
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

async function main() {
  if (!Bun.which("wrk")) throw new Error("wrk is not installed (make bench installs it from Debian's packages)");
  const dir = makeTempDir("opportunity-bench-http-");
  try {
    const cpu = cpuList()[0]?.model ?? "unknown";
    say(`# Benchmarks`);
    say("");
    say(`Measured ${new Date().toISOString()} by \`make bench\` on ${cpuList().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Bun ${Bun.version}, wrk with one thread on the same machine.`);
    say("Shared, noisy machine: read the ratios within this run, not the absolute numbers.");
    say("");
    say("## HTTP: PUT /api/opportunities/integration/update, every request a real change (one event)");
    say("");
    const template = await prepareDatabase(binary, dir.path);
    const modes: Mode[] = [
      { name: "HTTP ceiling (validation, no database)", command: (db, port) => [process.execPath, "run", join(import.meta.dir, "ceiling-server.ts"), String(port), db, SECRET] },
      { name: "one transaction per request, in-process", command: serveCommand(binary, "--group-commit-max-batch", "1", "--no-writer-thread") },
      { name: "one transaction per request, writer thread", command: serveCommand(binary, "--group-commit-max-batch", "1") },
      { name: "group commit, writer thread (the default)", command: serveCommand(binary) },
    ];
    const running: RunningMode[] = [];
    const measured: { mode: Mode; results: Map<number, ReturnType<typeof summary>>; rss: number }[] = [];
    try {
      for (const mode of modes) running.push(await startMode(mode, template, dir.path, CONCURRENCY[0]!));
      await measureInterleaved(running, CONCURRENCY, ROUNDS, DURATION);
      for (const entry of running) {
        const results = new Map([...entry.rounds].map(([connections, rounds]) => [connections, summary(rounds)] as const));
        measured.push({ mode: entry.mode, results, rss: peakRss(entry.child.pid) });
      }
    } finally {
      await stopModes(running);
    }
    say(`Each figure: the median of ${ROUNDS} rounds of ${DURATION} s per mode and concurrency, the modes loaded in turn (interleaved).`);
    say("Server CPU: user + system time of the service's process per answered request (steadier here than req/s), split by thread;");
    say("wrk: the load generator's own CPU per request, spent on the same cores.");
    say("");
    for (const { mode, results } of measured) {
      for (const [connections, result] of results) {
        say(
          `  ${mode.name}, concurrency ${connections}: ${Math.round(result.rps)} req/s (rounds ${Math.round(result.low)}–${Math.round(result.high)}), ` +
            `p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ${describeCpu(result)}, errors ${result.errors}`,
        );
      }
    }

    say("");
    say("Requests/s (all durable: synchronous=FULL, each answer after its commit):");
    say("");
    say("| concurrency | ceiling | per-request, in-process | per-request, writer thread | group commit | group ÷ per-request in-process | group ÷ per-request thread | group ÷ ceiling |");
    say("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const connections of CONCURRENCY) {
      const [ceiling, single, singleThread, group] = measured.map((entry) => entry.results.get(connections)!.rps);
      say(
        `| ${connections} | ${Math.round(ceiling!)} | ${Math.round(single!)} | ${Math.round(singleThread!)} | ${Math.round(group!)} | ` +
          `${(group! / single!).toFixed(1)}× | ${(group! / singleThread!).toFixed(1)}× | ${((group! / ceiling!) * 100).toFixed(0)}% |`,
      );
    }
    say("");
    say("Latency p50 / p99 (ms):");
    say("");
    say(`| concurrency | ${measured.map((entry) => entry.mode.name).join(" | ")} |`);
    say(`| --- | ${measured.map(() => "---").join(" | ")} |`);
    for (const connections of CONCURRENCY) {
      say(`| ${connections} | ${measured.map((entry) => { const r = entry.results.get(connections)!; return `${r.p50.toFixed(2)} / ${r.p99.toFixed(2)}`; }).join(" | ")} |`);
    }
    say("");
    const at = (index: number, connections: number) => measured[index]!.results.get(connections)!;
    const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
    const range = (result: ReturnType<typeof summary>) => `${Math.round(result.low)}–${Math.round(result.high)}`;
    const group32 = at(3, 32);
    targets.push(
      `- durable updates at concurrency 32: ${(group32.rps / at(1, 32).rps).toFixed(1)}× one transaction per request in-process, ${(group32.rps / at(2, 32).rps).toFixed(1)}× on the writer thread (target ≥ 6×): ${verdict(group32.rps >= 6 * at(1, 32).rps)}`,
      // What the cores allow: the service and wrk share them, so no mode can pass cores ÷ their CPU per request.
      `  - the cores' limit: group commit took ${group32.cpuPerRequestUs.toFixed(0)} µs of server CPU and wrk ${group32.wrkCpuPerRequestUs.toFixed(0)} µs per request; ` +
        `${cpuList().length} cores allow at most ${Math.round((cpuList().length * 1e6) / (group32.cpuPerRequestUs + group32.wrkCpuPerRequestUs))} req/s at that cost, ` +
        `with every core busy all the time; 6× would be ${Math.round(6 * at(1, 32).rps)} req/s`,
      `- durable updates at concurrency 32: ${((group32.rps / at(0, 32).rps) * 100).toFixed(0)}% of the HTTP ceiling (target ≥ 25%): ${verdict(group32.rps >= 0.25 * at(0, 32).rps)}`,
      `- p99 at concurrency 32: ${group32.p99.toFixed(2)} ms (target < 10 ms): ${verdict(group32.p99 < 10)}`,
      `- concurrency 1: ${(at(3, 1).rps / at(1, 1).rps).toFixed(3)}× per-request in-process (rounds ${range(at(3, 1))} vs ${range(at(1, 1))} req/s), ` +
        `${(at(3, 1).rps / at(2, 1).rps).toFixed(3)}× per-request on the writer thread (target ≥ 1×): ${verdict(at(3, 1).rps >= at(1, 1).rps)}`,
    );
    say(`Peak RSS under load: ${measured.map((entry) => `${entry.mode.name} ${(entry.rss / 1048576).toFixed(0)} MiB`).join("; ")}.`);
    say(`Errors (non-2xx or socket): ${measured.map((entry) => [...entry.results.values()].reduce((sum, r) => sum + r.errors, 0)).join(", ")}.`);
    say("");
    say("## Event store");
    say("");
    const store = rebuildAndVerify((line) => say(`- ${line}`));
    try {
      const starts = await coldStart(store.dbPath);
      say(`- cold start of the compiled binary to its first answer (/healthz) on that ${store.events.toLocaleString("en")}-event database: median ${median(starts).toFixed(0)} ms (runs: ${starts.map((t) => t.toFixed(0)).join(", ")} ms)`);
      targets.push(`- rebuild: ${store.rebuildPerSecond} events/s (target ≥ 300,000): ${store.rebuildPerSecond >= 300_000 ? "met" : "NOT met"}`);
      targets.push(`- cold start with ${store.events.toLocaleString("en")} events: ${median(starts).toFixed(0)} ms (target < 300 ms): ${median(starts) < 300 ? "met" : "NOT met"}`);
    } finally {
      store.cleanup();
    }
    say(`- binary size: ${(statSync(binary).size / 1048576).toFixed(1)} MiB`);
    say("");
    say("## Against the targets");
    say("");
    for (const line of targets) say(line);
    writeFileSync(join(root, "docs/BENCHMARKS.md"), `${lines.join("\n")}\n`);
    console.log("\nwritten to docs/BENCHMARKS.md");
  } finally {
    dir.cleanup();
  }
}

await main();
