/**
 * The live event stream of the compiled binary under load, the slow cases: 1,000 updates from 16 concurrent
 * clients reach two EventSource clients (one live, one from the start) once each and in order, within 200 ms;
 * a consumer that stops reading while 60 MB of events go by is disconnected and the server's memory stays
 * bounded (it is given no more than its room, then disconnected); a quiet stream outlives the server's idle timeout on its keep-alive comments.
 *
 * Two servers: the one under load beats every HEARTBEAT_SECONDS (the streamHeartbeatSeconds setting), so that
 * the stall check cuts the paused consumer off within seconds instead of 15-30; the other runs the defaults (a
 * 15 s heartbeat against Bun's 10 s idle timeout), and its quiet stream is watched from the start, while the
 * load tests run.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { E2E_TIMEOUT, memoryAfterGc, run, startServer, stop, useBinary, type Server } from "../support/binary";
import { SseReader } from "../support/sse-reader";
import { makeTempDir } from "../support/temp-dir";
import { percentile, positionsFrom, streamClient, type StreamClient } from "./event-stream-support";
import { api, configurationOf } from "./operations-support";

const SECRET = "stream-load-secret-0123456789abcdef";
const work = makeTempDir("opportunity-e2e-stream-load-");
const dbPath = join(work.path, "load.db");
const CODES = Array.from({ length: 50 }, (_, index) => `LOAD-${String(index + 1).padStart(3, "0")}`);
const SLOW = 120_000;
/**
 * The heartbeat of the server under load. The paused consumer is full early in the import and cut at the second
 * beat after it opened: two beats are more than the import takes (3-7 s on two cores), so that the 60 MB go by
 * while it is still connected.
 */
const HEARTBEAT_SECONDS = 4;
/** How long the default server's stream is watched without an event: past one 15 s heartbeat. */
const QUIET_MS = 16_000;
let server: Server;
let defaults: Server;
let quietWatch: Promise<QuietWatch>;
const clients: StreamClient[] = [];

interface QuietWatch {
  reader: SseReader;
  /** Every frame that came while watching: a comment's text, or `event N`. */
  frames: string[];
}

/** Opens a stream and reads it for QUIET_MS, during which nothing is written to that server. */
async function watchQuietStream(baseUrl: string): Promise<QuietWatch> {
  const response = await fetch(`${baseUrl}/api/events/stream`, { headers: { "x-internal-secret": SECRET } });
  const reader = new SseReader(response.body);
  const first = await reader.next();
  if (first?.comment !== "connected") throw new Error(`the stream began with ${JSON.stringify(first)}`);
  const quietUntil = performance.now() + QUIET_MS;
  const frames: string[] = [];
  while (performance.now() < quietUntil) {
    const frame = await reader.next(Math.max(1, quietUntil - performance.now())).catch(() => null);
    if (frame === null || performance.now() >= quietUntil) break;
    frames.push(frame.comment ?? `event ${frame.id}`);
  }
  return { reader, frames };
}

useBinary();
beforeAll(async () => {
  defaults = await startServer(["--db", join(work.path, "defaults.db")], work.path, { INTERNAL_SECRET: SECRET });
  quietWatch = watchQuietStream(defaults.baseUrl);
  // Awaited by its test; a failure meanwhile must not surface as an unhandled rejection elsewhere.
  quietWatch.catch(() => {});
  server = await startServer(["--db", dbPath], work.path, { INTERNAL_SECRET: SECRET, STREAM_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS) });
  for (const code of CODES) {
    const answer = await api(server.baseUrl, "POST", "/api/opportunities/integration/create", { secret: SECRET, body: { opportunityCode: code, opportunityName: `负载 ${code}`, endCustomerName: "某局" } });
    expect(answer.body.code).toBe("0");
  }
}, E2E_TIMEOUT);
afterAll(async () => {
  for (const client of clients) client.close();
  if (server && server.child.exitCode === null) await stop(server);
  if (defaults && defaults.child.exitCode === null) await stop(defaults);
  work.cleanup();
});

function client(query = ""): StreamClient {
  const opened = streamClient(server.baseUrl, SECRET, query);
  clients.push(opened);
  return opened;
}

const head = async () => ((await api(server.baseUrl, "GET", "/api/events?limit=1", { secret: SECRET })).body.data as { head: { position: number } }).head.position;

const mib = (bytes: number) => bytes / 1048576;

describe("under load", () => {
  test(
    "1,000 updates from 16 concurrent clients: a live stream and one from the start get each event once, in order, within 200 ms",
    async () => {
      const start = await head();
      const live = client();
      const fromStart = client("?after=0");
      await Promise.all([live.waitForOpens(1), fromStart.waitForOpens(1)]);
      const answered = new Map<number, number>();
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          for (let index = next++; index < 1_000; index = next++) {
            // A distinct amount per update: each is a real change, one event, and names its answer.
            const amount = 100_000 + index;
            const answer = await api(server.baseUrl, "PUT", "/api/opportunities/integration/update", { secret: SECRET, body: { opportunityCode: CODES[index % CODES.length], amount } });
            expect(answer.body.code).toBe("0");
            answered.set(amount, performance.now());
          }
        }),
      );
      await Promise.all([live.waitFor(1_000), fromStart.waitFor(start + 1_000)]);
      await Bun.sleep(200);
      expect(live.received.map((event) => event.id)).toEqual(positionsFrom(start + 1, start + 1_000));
      expect(fromStart.received.map((event) => event.id)).toEqual(positionsFrom(1, start + 1_000));
      // Each frame is the feed's item for that position.
      const feed = (await api(server.baseUrl, "GET", `/api/events?after=${start}&limit=1000`, { secret: SECRET })).body.data as { events: unknown[] };
      expect(live.received.map((event) => event.data)).toEqual(feed.events as never);
      expect(new Set(live.received.map((event) => event.data.data.changes?.amount)).size).toBe(1_000);
      // From the answer to the event's arrival (the event may come first: the stream is woken by the commit).
      const delays = live.received.map((event) => event.at - answered.get(event.data.data.changes!.amount as number)!);
      console.log(`1,000 updates at concurrency 16, answer to arrival on a live stream: p50 ${percentile(delays, 50).toFixed(1)} ms, p99 ${percentile(delays, 99).toFixed(1)} ms, max ${Math.max(...delays).toFixed(1)} ms`);
      expect(percentile(delays, 99)).toBeLessThan(200);
      live.close();
      fromStart.close();
    },
    SLOW,
  );

  test(
    "a consumer that stops reading while 60 MB of events go by is disconnected; the server's memory stays bounded; a reading one gets them all",
    async () => {
      // The 60 MB to import, written before the consumers connect.
      const count = 9_000;
      const lines = Array.from({ length: count }, (_, index) =>
        JSON.stringify({ opportunityCode: `RSS-${String(index).padStart(5, "0")}`, opportunityName: "内存", endCustomerName: "某局", description: "备".repeat(2_000) }),
      );
      writeFileSync(join(work.path, "rss.ndjson"), lines.join("\n"));
      const url = new URL(server.baseUrl);
      // A consumer that reads the answer's headers and then nothing: a small receive buffer, so that the kernel
      // holds little and the server's own queue for it has to grow. It reads on only when told, to see the end.
      const paused = Bun.spawn(
        [
          "python3",
          "-c",
          `import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("${url.hostname}", ${url.port}))
s.sendall(b"GET /api/events/stream HTTP/1.1\\r\\nHost: x\\r\\nX-Internal-Secret: ${SECRET}\\r\\n\\r\\n")
print("connected", flush=True)
sys.stdin.readline()
s.settimeout(10)
total = 0
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            print("eof", total, flush=True)
            break
        total += len(chunk)
except Exception as error:
    print("error", type(error).__name__, total, flush=True)`,
        ],
        { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
      );
      const pausedOut = paused.stdout.getReader();
      expect(new TextDecoder().decode((await pausedOut.read()).value)).toStartWith("connected");
      const reading = client();
      await reading.waitForOpens(1);
      const before = await memoryAfterGc(server);

      const stalled = () => server.output().includes("its consumer stopped reading");
      const importStarted = performance.now();
      expect((await run(["import", join(work.path, "rss.ndjson"), "--db", dbPath], work.path)).code).toBe(0);
      await reading.waitFor(count, 60_000);
      const wentBy = performance.now();
      // Whether the paused consumer was still connected while all of it went by (as it is unless the machine is
      // so busy that the import outlasts a heartbeat): then this measure is of memory while it was connected.
      const connectedThroughout = !stalled();
      const whileConnected = await memoryAfterGc(server);
      const sentMiB = (count * (JSON.stringify(reading.received[0]!.data).length + 6_000)) / 1048576;
      // Its room full early in the import, then full at one beat and nothing read by the next: the server closes
      // it (and says so) within two heartbeats of its opening, and a few seconds for a busy machine (at the
      // default 15 s it would take 15-30 s).
      expect(configurationOf(server.output()).streamHeartbeatSeconds).toEqual({ value: HEARTBEAT_SECONDS, source: "env" });
      const cutBy = importStarted + (2 * HEARTBEAT_SECONDS + 5) * 1000;
      while (performance.now() < cutBy && !stalled()) await Bun.sleep(50);
      expect(server.output()).toContain("live event stream closed: its consumer stopped reading");
      const cutAfter = performance.now() - importStarted;
      const after = await memoryAfterGc(server);

      paused.stdin.write("\n");
      await paused.stdin.flush();
      // Everything it printed after "connected", to its end: a pipe may hand the lines over in any pieces.
      let rest = "";
      for (let chunk = await pausedOut.read(); !chunk.done; chunk = await pausedOut.read()) rest += new TextDecoder().decode(chunk.value);
      await paused.exited;
      const end = rest.trim().split("\n").at(-1)!.split(" ");
      console.log(
        `paused consumer: about ${sentMiB.toFixed(0)} MiB of events went by in ${((wentBy - importStarted) / 1000).toFixed(1)} s ` +
          `(${connectedThroughout ? "all of it while it was connected" : "it was cut off before the end"}); it got ${(Number(end[end.length - 1]) / 1048576).toFixed(1)} MiB before it was cut off (${end[0]}) ` +
          `${(cutAfter / 1000).toFixed(1)} s after the import began; server after a full GC: heap ${mib(before.heapUsed).toFixed(1)} -> ${mib(whileConnected.heapUsed).toFixed(1)} -> ${mib(after.heapUsed).toFixed(1)} MiB, ` +
          `RSS ${mib(before.rss).toFixed(0)} -> ${mib(whileConnected.rss).toFixed(0)} -> ${mib(after.rss).toFixed(0)} MiB (before that GC ${mib(whileConnected.rssBefore).toFixed(0)} MiB)`,
      );
      // Cut off by the server (the connection reset), long before 60 MB: what it got is what the kernel held.
      expect(["eof", "error"]).toContain(end[0]!);
      expect(Number(end[end.length - 1])).toBeLessThan(16 * 1048576);
      expect(sentMiB).toBeGreaterThan(60);
      // Growth well under what went by: nothing of it is held for the paused consumer, neither once all of it had
      // gone by nor after it was cut off. Measured after a full GC: what the server holds, not its garbage. The
      // heap (events, frames and the queues of both streams) may hold one page of history (256 events, about 3
      // MiB) and each stream's 64 KiB room; RSS also counts what Bun would buffer natively for a socket.
      for (const measured of [whileConnected, after]) {
        expect(mib(measured.heapUsed - before.heapUsed)).toBeLessThan(16);
        expect(mib(measured.rss - before.rss)).toBeLessThan(48);
      }
      reading.close();
    },
    SLOW,
  );

  test(
    "with the defaults, a quiet stream outlives the server's 10 s idle timeout: a keep-alive comment comes at 15 s, and events still arrive after it",
    async () => {
      expect(configurationOf(defaults.output()).streamHeartbeatSeconds).toEqual({ value: 15, source: "default" });
      // Watched since the start, while the tests above ran on the other server: 16 s without an event, only
      // keep-alive comments, at most 15 s apart, so at least 10 s of silence somewhere.
      const { reader, frames } = await quietWatch;
      expect(frames.length).toBeGreaterThanOrEqual(1);
      expect(frames.every((frame) => frame === "keep-alive")).toBe(true);
      expect(reader.ended).toBe(false);
      const answer = await api(defaults.baseUrl, "POST", "/api/opportunities/integration/create", { secret: SECRET, body: { opportunityCode: "QUIET-001", opportunityName: "安静", endCustomerName: "某局" } });
      expect(answer.body.code).toBe("0");
      const [frame] = await reader.events(1);
      expect(frame!.event).toBe("OpportunityCreated");
      await reader.cancel();
    },
    SLOW,
  );
});
