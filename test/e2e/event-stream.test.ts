/**
 * GET /api/events/stream on the compiled binary, with a real EventSource client (the npm `eventsource` package):
 * events written by another process (an `import` on the same SQLite file) and by another instance (two
 * instances on one PostgreSQL database) reach an open stream; a client that lost its connection to a restart
 * resumes with Last-Event-ID and gets every event once; SIGTERM ends the streams cleanly. The slow cases (1,000
 * concurrent updates, a consumer that stops reading, a quiet stream): test/e2e/event-stream-load.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { E2E_TIMEOUT, run, startServer, stop, useBinary, type Server } from "../support/binary";
import { freePort } from "../support/free-port";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { SseReader } from "../support/sse-reader";
import { makeTempDir } from "../support/temp-dir";
import { percentile, positionsFrom, streamClient, type StreamClient } from "./event-stream-support";
import { api } from "./operations-support";

const SECRET = "stream-e2e-secret-0123456789abcdef";
const ENV = { INTERNAL_SECRET: SECRET };
const work = makeTempDir("opportunity-e2e-stream-");
const dbPath = join(work.path, "stream.db");
const clients: StreamClient[] = [];

useBinary();
afterAll(() => {
  for (const client of clients) client.close();
  work.cleanup();
});

function client(server: Server, query = ""): StreamClient {
  const opened = streamClient(server.baseUrl, SECRET, query);
  clients.push(opened);
  return opened;
}

const createBody = (code: string) => ({ opportunityCode: code, opportunityName: `流 ${code}`, endCustomerName: "某市大数据局" });

/** An NDJSON file of create bodies for `import`. */
function importFile(name: string, codes: string[]): string {
  const path = join(work.path, name);
  writeFileSync(path, codes.map((code) => JSON.stringify(createBody(code))).join("\n"));
  return path;
}

const codes = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `${prefix}-${String(index + 1).padStart(3, "0")}`);

describe("on a SQLite file", () => {
  const port = freePort();
  let server: Server;
  const serve = () => startServer(["--port", String(port), "--db", dbPath], work.path, ENV);

  beforeAll(async () => {
    server = await serve();
    for (const code of codes("SQ", 3)) expect((await api(server.baseUrl, "POST", "/api/opportunities/integration/create", { secret: SECRET, body: createBody(code) })).body.code).toBe("0");
  }, E2E_TIMEOUT);
  afterAll(async () => {
    if (server.child.exitCode === null) await stop(server);
  });

  test(
    "an import in another process is seen by a live stream, each event once, within 200 ms of the import's end",
    async () => {
      const live = client(server);
      await live.waitForOpens(1);
      const imported = codes("IMP", 40);
      const result = await run(["import", importFile("import.ndjson", imported), "--db", dbPath], work.path);
      const ended = performance.now();
      expect(result.code).toBe(0);
      await live.waitFor(imported.length);
      expect(live.received.map((event) => event.data.streamId)).toEqual(imported);
      expect(live.received.map((event) => event.id)).toEqual(positionsFrom(4, 43));
      const lag = live.received[live.received.length - 1]!.at - ended;
      console.log(`SQLite, import in another process: its last event reached the stream ${lag.toFixed(1)} ms after the import exited`);
      expect(lag).toBeLessThan(200);
      live.close();
    },
    E2E_TIMEOUT,
  );

  test(
    "a client cut off by a restart resumes with Last-Event-ID: what was written meanwhile arrives, nothing twice",
    async () => {
      const reader = client(server, "?after=0");
      await reader.waitFor(43);
      expect(await stop(server)).toBe(0);
      // Written while no server runs: only the resumed stream can bring these.
      const meanwhile = codes("GAP", 5);
      expect((await run(["import", importFile("gap.ndjson", meanwhile), "--db", dbPath], work.path)).code).toBe(0);
      server = await serve();
      // The client reconnects by itself (EventSource waits 3 s) with Last-Event-ID: 43.
      await reader.waitForOpens(2);
      for (const [index, code] of codes("SQ", 3).entries()) {
        const answer = await api(server.baseUrl, "PUT", "/api/opportunities/integration/update", { secret: SECRET, body: { opportunityCode: code, amount: 1000 + index } });
        expect(answer.body.code).toBe("0");
      }
      await reader.waitFor(51);
      await Bun.sleep(100);
      expect(reader.received.map((event) => event.id)).toEqual(positionsFrom(1, 51));
      expect(reader.received.slice(43, 48).map((event) => event.data.streamId)).toEqual(meanwhile);
      expect(reader.errors()).toBeGreaterThanOrEqual(1);
      reader.close();
    },
    E2E_TIMEOUT,
  );

  test(
    "SIGTERM ends an open stream with a last comment, and the service exits at once rather than waiting for it",
    async () => {
      const response = await fetch(`${server.baseUrl}/api/events/stream`, { headers: { "x-internal-secret": SECRET } });
      expect(response.headers.get("content-type")).toBe("text/event-stream;charset=UTF-8");
      const reader = new SseReader(response.body);
      expect((await reader.next())?.comment).toBe("connected");
      const live = client(server);
      await live.waitForOpens(1);
      const signalled = performance.now();
      server.child.kill("SIGTERM");
      expect((await reader.next(5_000))?.comment).toBe("服务正在停止，请重新连接（带 Last-Event-ID 可从断开处继续）");
      expect(await reader.next(5_000)).toBeNull();
      expect(await server.child.exited).toBe(0);
      // Far below the 10 s shutdown timeout: open streams do not hold the drain.
      expect(performance.now() - signalled).toBeLessThan(3_000);
      expect(server.output()).toContain('"msg":"stopping"');
      expect(server.output()).toContain('"eventStreams":2');
      live.close();
    },
    E2E_TIMEOUT,
  );
});

describe("two instances on one PostgreSQL database", () => {
  let database: TestDatabase;
  let a: Server;
  let b: Server;

  beforeAll(async () => {
    database = await createTestDatabase();
    const secrets = join(work.path, "secrets.json");
    writeFileSync(secrets, JSON.stringify([{ name: "oms", secret: SECRET }]), { mode: 0o600 });
    [a, b] = await Promise.all([startServer(["--db", database.url, "--secrets", secrets], work.path), startServer(["--db", database.url, "--secrets", secrets], work.path)]);
    for (const code of codes("PG", 5)) expect((await api(b.baseUrl, "POST", "/api/opportunities/integration/create", { secret: SECRET, body: createBody(code) })).body.code).toBe("0");
  }, E2E_TIMEOUT);
  afterAll(async () => {
    for (const server of [a, b]) if (server && server.child.exitCode === null) await stop(server);
    await database?.drop();
  });

  test(
    "an update on B reaches a stream on A within 200 ms of its answer (LISTEN/NOTIFY), in order, each once",
    async () => {
      const onA = client(a);
      await onA.waitForOpens(1);
      const answered: number[] = [];
      for (let round = 0; round < 50; round++) {
        const answer = await api(b.baseUrl, "PUT", "/api/opportunities/integration/update", { secret: SECRET, body: { opportunityCode: `PG-00${(round % 5) + 1}`, amount: 5000 + round } });
        expect(answer.body.code).toBe("0");
        answered.push(performance.now());
        // One at a time: each delay is that of one event, not of a queue.
        await onA.waitFor(round + 1, 2_000);
      }
      expect(onA.received.map((event) => event.id)).toEqual(positionsFrom(6, 55));
      expect(onA.received.map((event) => event.data.data.changes?.amount)).toEqual(answered.map((_, round) => 5000 + round));
      const delays = onA.received.map((event, index) => event.at - answered[index]!);
      console.log(`PostgreSQL, update on B to its event on A's stream: p50 ${percentile(delays, 50).toFixed(1)} ms, max ${Math.max(...delays).toFixed(1)} ms`);
      expect(Math.max(...delays)).toBeLessThan(200);
      onA.close();
    },
    E2E_TIMEOUT,
  );

  test(
    "an import in another process on the database is seen on both instances' streams",
    async () => {
      const [onA, onB] = [client(a), client(b)];
      await Promise.all([onA.waitForOpens(1), onB.waitForOpens(1)]);
      const imported = codes("PGI", 30);
      expect((await run(["import", importFile("pg-import.ndjson", imported), "--db", database.url], work.path)).code).toBe(0);
      await Promise.all([onA.waitFor(imported.length), onB.waitFor(imported.length)]);
      for (const stream of [onA, onB]) expect(stream.received.map((event) => event.data.streamId)).toEqual(imported);
      onA.close();
      onB.close();
    },
    E2E_TIMEOUT,
  );
});
