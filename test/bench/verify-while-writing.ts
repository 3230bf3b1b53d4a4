/**
 * Writes with and without a verification job running (POST /api/audit/verifications): the job must not slow
 * writes noticeably. One service on a database of --events events (a long history beside the benchmark's 1,000
 * opportunities, so that a verification outlasts a round), loaded by wrk in alternating rounds: A without a job,
 * B with a job started just before (its snapshot taken, checking under way). Prints the medians of each and how
 * much of each B round the job covered. A benchmark, never a test: read the ratio.
 *
 *   bun test/bench/verify-while-writing.ts [--binary dist/opportunity-service] [--events 300000] [--rounds 3]
 *     [--seconds 5] [--concurrency 32] [--postgres]
 */
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openServiceStore } from "../../src/service-store";
import { appendLongStream } from "../audit/long-stream";
import { createTestDatabase } from "../support/postgres";
import { makeTempDir } from "../support/temp-dir";
import { describeCpu, median, prepareDatabase, SECRET, serveCommand, startMode, stopModes, wrk, type BenchDatabase, type RunningMode, type WrkResult } from "./load";

const { values } = parseArgs({
  options: {
    binary: { type: "string", default: "dist/opportunity-service" },
    events: { type: "string", default: "300000" },
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "5" },
    concurrency: { type: "string", default: "32" },
    postgres: { type: "boolean", default: false },
  },
});
if (!Bun.which("wrk")) throw new Error("wrk is not installed (make bench installs it from Debian's packages)");
const binary = values.binary!;
const concurrency = Number(values.concurrency);

/** The benchmark's template with a long history appended: what both backends' databases start from. */
function grownTemplate(template: string, dir: string): string {
  const path = join(dir, "grown.db");
  copyFileSync(template, path);
  const store = openServiceStore(path);
  try {
    appendLongStream(store.storage, "BENCH-LONG", Number(values.events), { nextId: 100_000, perWrite: 5_000 });
  } finally {
    store.close();
  }
  return path;
}

async function exported(db: string, dir: string): Promise<string> {
  const file = join(dir, "grown.ndjson");
  const child = Bun.spawn([binary, "export", "--db", db], { stdout: "pipe", stderr: "pipe" });
  writeFileSync(file, await new Response(child.stdout).text());
  if ((await child.exited) !== 0) throw new Error(await new Response(child.stderr).text());
  return file;
}

async function databaseFrom(grown: string, dir: string): Promise<BenchDatabase> {
  if (!values.postgres) return { location: grown, drop: async () => {} };
  const database = await createTestDatabase();
  const restore = Bun.spawn([binary, "restore", await exported(grown, dir), "--db", database.url], { stdout: "ignore", stderr: "pipe" });
  if ((await restore.exited) !== 0) throw new Error(await new Response(restore.stderr).text());
  return { location: database.url, postgresName: database.name, drop: () => database.drop() };
}

interface Job {
  id: string;
  state: string;
  checked: number;
  total: number | null;
}

async function job(url: string, id?: string): Promise<Job> {
  const answer = id
    ? await fetch(`${url}/api/audit/verifications/${id}`, { headers: { "X-Internal-Secret": SECRET } })
    : await fetch(`${url}/api/audit/verifications`, { method: "POST", headers: { "X-Internal-Secret": SECRET } });
  const body = (await answer.json()) as { code: string; msg: string; data: Job };
  if (body.code !== "0") throw new Error(body.msg);
  return body.data;
}

/** A B round: a job started and under way, wrk meanwhile; whether the job outlasted the round, and its whole time. */
async function roundWithJob(running: RunningMode, seconds: string): Promise<{ result: WrkResult; outlasted: boolean; jobSeconds: number }> {
  const url = running.urls[0]!;
  const began = performance.now();
  const { id } = await job(url);
  while ((await job(url, id)).total === null) await Bun.sleep(5);
  const result = await wrk(running.urls, concurrency, seconds, { pids: running.children.map((child) => child.pid), postgresName: running.database.postgresName });
  let state = await job(url, id);
  const outlasted = state.state === "running";
  while (state.state === "running") {
    await Bun.sleep(20);
    state = await job(url, id);
  }
  if (state.state !== "done") throw new Error(`verification ended in ${state.state}`);
  return { result, outlasted, jobSeconds: (performance.now() - began) / 1000 };
}

const dir = makeTempDir("opportunity-verify-load-");
const modes: RunningMode[] = [];
try {
  const prepared = await prepareDatabase(binary, dir.path);
  const grown = grownTemplate(prepared.template, dir.path);
  const mode = { name: values.postgres ? "PostgreSQL" : "SQLite", command: serveCommand(binary), database: () => databaseFrom(grown, dir.path) };
  modes.push(await startMode(mode, prepared, dir.path, concurrency));
  const running = modes[0]!;
  const without: WrkResult[] = [];
  const withJob: WrkResult[] = [];
  for (let round = 1; round <= Number(values.rounds); round++) {
    const a = await wrk(running.urls, concurrency, values.seconds!, { pids: running.children.map((child) => child.pid), postgresName: running.database.postgresName });
    without.push(a);
    console.log(`  round ${round} A (no job):   ${Math.round(a.rps)} req/s, p50 ${a.p50.toFixed(2)} ms, p99 ${a.p99.toFixed(2)} ms, ${describeCpu(a, 1)}`);
    const b = await roundWithJob(running, values.seconds!);
    withJob.push(b.result);
    const note = b.outlasted ? "the job ran through the whole round" : "the job ended inside the round";
    console.log(
      `  round ${round} B (job running): ${Math.round(b.result.rps)} req/s, p50 ${b.result.p50.toFixed(2)} ms, p99 ${b.result.p99.toFixed(2)} ms, ${describeCpu(b.result, 1)}; ` +
        `${note}, job took ${b.jobSeconds.toFixed(1)} s`,
    );
  }
  const line = (name: string, results: WrkResult[]) =>
    `${name}: ${Math.round(median(results.map((r) => r.rps)))} req/s, p50 ${median(results.map((r) => r.p50)).toFixed(2)} ms, p99 ${median(results.map((r) => r.p99)).toFixed(2)} ms, errors ${results.reduce((sum, r) => sum + r.errors, 0)}`;
  console.log(`\n${mode.name}, ${values.events} events + 1,000 opportunities, concurrency ${concurrency}, ${values.rounds} rounds of ${values.seconds} s (medians)`);
  console.log(`  ${line("without a verification", without)}`);
  console.log(`  ${line("with a verification running", withJob)}`);
  console.log(`  ratio (with / without): ${(median(withJob.map((r) => r.rps)) / median(without.map((r) => r.rps))).toFixed(2)}`);
} finally {
  await stopModes(modes);
  dir.cleanup();
}
