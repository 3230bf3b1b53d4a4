/**
 * Benchmark (not a test) of what integrators gained in issue 14, run by `make bench` (run-all.ts) against a
 * running service:
 *   - a batch of 100 updates against 100 single updates, each over one kept-alive connection, sent one after
 *     the other (what a nightly sync job does): items per second of each, in alternating rounds;
 *   - the delay from an update's commit to its event's arrival on 10 open change streams while wrk loads the
 *     update route at concurrency 32: p50 and p99 over every event each stream received.
 */
import { median, SECRET, wrk } from "./load";

const BATCH_ITEMS = 100;
const STREAMS = 10;

const headers = { "content-type": "application/json", "x-internal-secret": SECRET };
let counter = 0;
/** An update that changes something: a new amount each time, on one of the 1,000 seeded opportunities. */
const nextItem = () => {
  counter += 1;
  return { opportunityCode: `BENCH-${String(counter % 1000).padStart(4, "0")}`, amount: 500_000 + counter };
};

async function expectSuccess(response: Response): Promise<void> {
  const body = (await response.json()) as { code: string; msg: string };
  if (response.status !== 200 || body.code !== "0") throw new Error(`answer ${response.status}: ${body.msg}`);
}

/** Items per second of `send` (which sends `items` items per call), called back to back for `seconds`. */
async function itemsPerSecond(seconds: number, items: number, send: () => Promise<void>): Promise<number> {
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < seconds * 1000) {
    await send();
    sent += items;
  }
  return sent / ((performance.now() - started) / 1000);
}

/** Batch of 100 vs 100 singles, in `rounds` alternating rounds of `seconds` each; medians of items/s. */
export async function batchVersusSingle(url: string, rounds: number, seconds: number): Promise<{ single: number; batch: number; singles: number[]; batches: number[] }> {
  const singles: number[] = [];
  const batches: number[] = [];
  const single = async () => expectSuccess(await fetch(`${url}/api/opportunities/integration/update`, { method: "PUT", headers, body: JSON.stringify(nextItem()) }));
  const batch = async () => {
    const items = Array.from({ length: BATCH_ITEMS }, nextItem);
    const response = await fetch(`${url}/api/opportunities/integration/batch-update`, { method: "PUT", headers, body: JSON.stringify({ items }) });
    const body = (await response.json()) as { code: string; msg: string; data: { succeeded: number } };
    if (body.code !== "0" || body.data.succeeded !== BATCH_ITEMS) throw new Error(`batch answer: ${JSON.stringify(body).slice(0, 300)}`);
  };
  for (let round = 0; round < rounds; round++) {
    singles.push(await itemsPerSecond(seconds, 1, single));
    batches.push(await itemsPerSecond(seconds, BATCH_ITEMS, batch));
  }
  return { single: median(singles), batch: median(batches), singles, batches };
}

/** Reads one change stream, noting for each event how long after its recorded time it arrived (ms). */
async function readStream(url: string, delays: number[], abort: AbortSignal, opened: () => void): Promise<void> {
  const response = await fetch(`${url}/api/events/stream`, { headers: { "x-internal-secret": SECRET, accept: "text/event-stream" }, signal: abort });
  if (response.status !== 200 || !response.body) throw new Error(`stream answered ${response.status}`);
  opened();
  const decoder = new TextDecoder();
  let pending = "";
  try {
    for await (const chunk of response.body) {
      const arrived = Date.now();
      pending += decoder.decode(chunk, { stream: true });
      const frames = pending.split("\n\n");
      pending = frames.pop()!;
      for (const frame of frames) {
        const data = frame.split("\n").find((line) => line.startsWith("data: "));
        if (!data) continue;
        // recordedAt is taken when the batch is planned, just before its commit: the delay includes the commit.
        delays.push(arrived - Date.parse((JSON.parse(data.slice(6)) as { recordedAt: string }).recordedAt));
      }
    }
  } catch (error) {
    if (!abort.aborted) throw error;
  }
}

/** Commit-to-arrival delay on 10 open streams while wrk updates at concurrency 32 for `seconds`. */
export async function streamDelay(url: string, seconds: string): Promise<{ p50: number; p99: number; events: number; rps: number }> {
  const delays: number[] = [];
  const controller = new AbortController();
  let open = 0;
  const allOpen = Promise.withResolvers<void>();
  const readers = Array.from({ length: STREAMS }, () => readStream(url, delays, controller.signal, () => ++open === STREAMS && allOpen.resolve()));
  await Promise.race([allOpen.promise, Promise.all(readers)]);
  const load = await wrk([url], 32, seconds);
  // The last events of the run are on their way: give them the 200 ms the stream promises, and some.
  await Bun.sleep(500);
  controller.abort();
  await Promise.all(readers);
  const sorted = delays.sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), events: sorted.length, rps: load.rps };
}
