/**
 * Benchmark (not a test): a point-in-time read (`GET …?asOf=` / `?version=`) of one opportunity with a long
 * history, through app.handle. These reads run on the HTTP thread: besides each read's own time, the longest
 * stretch it holds the event loop is what every other request (/healthz too) may wait. "cold" reads go to a
 * new app each time (no remembered states; its first request, which compiles the routes, is not timed),
 * "warm" ones to one app. Size: BENCH_PIT_EVENTS (default 6,500
 * events in the one stream). Run with `bun run test/bench/point-in-time.bench.ts`.
 */
import { join } from "node:path";
import { openServiceStore } from "../../src/service-store";
import { appendLongStream } from "../audit/long-stream";
import { AUDITOR_SECRET, createTestApp } from "../support/test-service";
import { makeTempDir } from "../support/temp-dir";

const EVENTS = Number(process.env.BENCH_PIT_EVENTS ?? 6_500);
const RUNS = 30;
const CODE = "OPP-PIT-BENCH";
const START_MS = Date.UTC(2026, 0, 1);
const PER_WRITE = 10;
const STEP_MS = 60_000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Runs `work` while a setImmediate chain ticks; returns how long it took and the longest gap between ticks. */
async function timed(work: () => Promise<void>): Promise<{ ms: number; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  let ticking = true;
  const tick = () => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  ticking = false;
  stallMs = Math.max(stallMs, performance.now() - last);
  return { ms, stallMs };
}

export async function pointInTime(log: (line: string) => void = console.log): Promise<void> {
  const dir = makeTempDir("pit-bench-");
  try {
    const path = join(dir.path, "pit.db");
    let clock = START_MS;
    const writer = openServiceStore(path);
    appendLongStream(writer.storage, CODE, EVENTS, { perWrite: PER_WRITE, beforeWrite: () => (clock += STEP_MS), now: () => new Date(clock) });
    writer.close();

    const service = openServiceStore(path);
    const warmApp = createTestApp(service);
    const get = async (app: ReturnType<typeof createTestApp>, query: string) => {
      const response = await app.handle(new Request(`http://localhost/api/opportunities/${CODE}${query}`, { headers: { "x-internal-secret": AUDITOR_SECRET } }));
      const body = (await response.json()) as { code: string };
      if (body.code !== "0") throw new Error(`${query}: ${JSON.stringify(body)}`);
    };
    const middleMs = START_MS + (EVENTS / PER_WRITE / 2) * STEP_MS;
    const queries: [string, string][] = [
      ["current", ""],
      ["version=last", `?version=${EVENTS}`],
      ["version=middle", `?version=${Math.floor(EVENTS / 2) + 7}`],
      ["version=2", "?version=2"],
      ["asOf=end", `?asOf=${encodeURIComponent(new Date(clock + 1).toISOString())}`],
      ["asOf=middle", `?asOf=${encodeURIComponent(new Date(middleMs).toISOString())}`],
    ];
    for (const [name, query] of queries) {
      for (const mode of ["cold", "warm"] as const) {
        for (let warm = 0; warm < 3; warm++) await get(warmApp, query);
        const runs: { ms: number; stallMs: number }[] = [];
        for (let run = 0; run < RUNS; run++) {
          const app = mode === "cold" ? createTestApp(service) : warmApp;
          // A new app compiles its routes on its first request: not what is measured here.
          if (mode === "cold") await get(app, "");
          runs.push(await timed(() => get(app, query)));
        }
        log(
          `${name.padEnd(15)} ${mode}: median ${median(runs.map((r) => r.ms)).toFixed(2)} ms per read, ` +
            `longest hold of the event loop median ${median(runs.map((r) => r.stallMs)).toFixed(2)} ms / max ${Math.max(...runs.map((r) => r.stallMs)).toFixed(2)} ms ` +
            `(${RUNS} reads, ${EVENTS} events in the stream)`,
        );
      }
    }
    service.close();
  } finally {
    dir.cleanup();
  }
}

if (import.meta.main) await pointInTime();
