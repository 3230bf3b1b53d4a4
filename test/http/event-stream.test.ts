/**
 * GET /api/events/stream through app.handle, on this run's backend: the frames and where they start, the filter,
 * refusals in the envelope, access, the stream limit, a database out of reach, the end on shutdown, and events
 * written by another instance (PostgreSQL) or another connection (SQLite) on the same database, which only the
 * database's own news of commits can bring. The hub alone: test/unit/event-stream-hub.test.ts; the binary with a
 * real EventSource client: test/e2e/event-stream.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { App } from "../../src/http/app";
import { EventStreamHub, streamSourceOf } from "../../src/http/event-stream-hub";
import { StorageUnavailableError } from "../../src/storage-errors";
import { eventOf, SseReader } from "../support/sse-reader";
import { createBackendDatabase, type BackendDatabase, type TestBackend } from "../support/test-backend";
import { AUDITOR_SECRET, createTestApp, TEST_SECRET } from "../support/test-service";
import { JSON_UTF8 } from "./http-client";

const STREAM = "/api/events/stream";
const EVENT_STREAM = "text/event-stream;charset=UTF-8";

let database: BackendDatabase;
/** Two services on one database: `a` serves the streams, `b` is the other instance (or connection) that writes. */
let a: TestBackend;
let b: TestBackend;
let appA: App;
let appB: App;
const readers: SseReader[] = [];

beforeAll(async () => {
  database = await createBackendDatabase();
  a = await database.open();
  b = await database.open();
  appA = createTestApp(a);
  appB = createTestApp(b);
  await create(appA, "STREAM-001", { salesExpansionId: "9007199254740993" });
  await create(appA, "STREAM-002");
});
afterEach(async () => {
  await Promise.all(readers.splice(0).map((reader) => reader.cancel().catch(() => undefined)));
});
afterAll(async () => {
  await appA.eventStreams.close();
  await appB.eventStreams.close();
  await database.drop();
});

function request(app: App, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const init: RequestInit = { method, headers: { "x-internal-secret": TEST_SECRET, ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, "content-type": "application/json" };
  }
  return app.handle(new Request(`http://localhost${path}`, init));
}

async function create(app: App, code: string, fields: Record<string, unknown> = {}): Promise<void> {
  const answer = await request(app, "POST", "/api/opportunities/integration/create", { opportunityCode: code, opportunityName: "流测试", endCustomerName: "某局", ...fields });
  expect(((await answer.json()) as { code: string }).code).toBe("0");
}

async function update(app: App, code: string, amount: number): Promise<void> {
  const answer = await request(app, "PUT", "/api/opportunities/integration/update", { opportunityCode: code, amount });
  expect(((await answer.json()) as { code: string }).code).toBe("0");
}

async function head(): Promise<number> {
  return (await a.storage.head())?.position ?? 0;
}

/** Opens a stream on `app` and checks it is one; the reader is cancelled after the test. */
async function open(query = "", headers: Record<string, string> = {}, app = appA): Promise<SseReader> {
  const response = await request(app, "GET", `${STREAM}${query}`, undefined, headers);
  expect({ status: response.status, type: response.headers.get("content-type") }).toEqual({ status: 200, type: EVENT_STREAM });
  expect(response.headers.get("x-request-id")).toBeString();
  expect(response.headers.get("cache-control")).toBe("no-cache");
  const reader = new SseReader(response.body);
  readers.push(reader);
  return reader;
}

/** Waits until `app` has `count` streams open (a cancelled stream is let go asynchronously). */
async function openStreams(app: App, count: number): Promise<void> {
  for (let tries = 0; tries < 100 && app.eventStreams.openStreams !== count; tries++) await Bun.sleep(10);
  expect(app.eventStreams.openStreams).toBe(count);
}

describe("what a stream sends", () => {
  test("after=0: every stored event in position order, each frame's data exactly one item of GET /api/events", async () => {
    const reader = await open("?after=0");
    const total = await head();
    const frames = await reader.events(total);
    const feed = await request(appA, "GET", `/api/events?limit=${total}`);
    const feedText = await feed.text();
    const items = (JSON.parse(feedText) as { data: { events: unknown[] } }).data.events;
    expect(frames.map((frame) => Number(frame.id))).toEqual(items.map((_, index) => index + 1));
    expect(frames.map((frame) => frame.event)).toEqual(items.map((item) => (item as { type: string }).type));
    expect(frames.map((frame) => JSON.parse(frame.data!))).toEqual(items);
    // The same text as the feed's, 64-bit ID exact: the frame is not a re-serialisation through doubles.
    for (const frame of frames) expect(feedText).toContain(frame.data!);
    expect(frames[0]!.data).toContain('"salesExpansionId":9007199254740993');
  });

  test("without after or Last-Event-ID: only the events committed after it opened", async () => {
    const reader = await open();
    await reader.expectNoEvent(100);
    const before = await head();
    await update(appA, "STREAM-001", 1001);
    const [frame] = await reader.events(1);
    expect({ id: frame!.id, event: frame!.event, code: eventOf(frame!).streamId }).toEqual({ id: String(before + 1), event: "OpportunityUpdated", code: "STREAM-001" });
  });

  test("Last-Event-ID (what EventSource sends when it reconnects) wins over after: nothing lost, nothing repeated", async () => {
    const total = await head();
    const reader = await open("?after=0", { "last-event-id": String(total - 1) });
    expect((await reader.events(1)).map((frame) => Number(frame.id))).toEqual([total]);
    await reader.expectNoEvent(100);
    await update(appA, "STREAM-002", 2002);
    expect((await reader.events(1)).map((frame) => Number(frame.id))).toEqual([total + 1]);
  });

  test("opportunityCode: only that opportunity's events, history and live", async () => {
    const reader = await open("?after=0&opportunityCode=STREAM-002");
    const history = (await readAllEventsOf("STREAM-002")).length;
    const frames = await reader.events(history);
    expect(frames.every((frame) => eventOf(frame).streamId === "STREAM-002")).toBe(true);
    await update(appA, "STREAM-001", 3001);
    await update(appA, "STREAM-002", 3002);
    const [next] = await reader.events(1);
    expect({ code: eventOf(next!).streamId, amount: (JSON.parse(next!.data!) as { data: { changes: { amount: number } } }).data.changes.amount }).toEqual({ code: "STREAM-002", amount: 3002 });
    await reader.expectNoEvent(100);
  });

  test("HEAD answers the stream's headers without opening one", async () => {
    const response = await request(appA, "HEAD", STREAM);
    expect({ status: response.status, type: response.headers.get("content-type"), open: appA.eventStreams.openStreams }).toEqual({ status: 200, type: EVENT_STREAM, open: 0 });
  });
});

async function readAllEventsOf(code: string) {
  const events = [];
  for (let after = 0; ; ) {
    const page = await a.storage.readStreamPage(code, after, 500);
    events.push(...page);
    if (page.length < 500) return events;
    after = page[page.length - 1]!.version;
  }
}

describe("writes of any writer reach the stream within 200 ms", () => {
  test("another instance on the same database (SQLite: another connection) writes; the stream on this one sees each", async () => {
    const reader = await open();
    const delays: number[] = [];
    for (let round = 0; round < 10; round++) {
      await update(appB, "STREAM-001", 5000 + round);
      const answered = performance.now();
      const [frame] = await reader.events(1, 1_000);
      delays.push(performance.now() - answered);
      expect((JSON.parse(frame!.data!) as { data: { changes: { amount: number } } }).data.changes.amount).toBe(5000 + round);
    }
    delays.sort((x, y) => x - y);
    expect(delays[5]!).toBeLessThan(200);
  });

  test("writes through this app's own routes", async () => {
    const reader = await open();
    await update(appA, "STREAM-002", 6001);
    const answered = performance.now();
    await reader.events(1, 1_000);
    expect(performance.now() - answered).toBeLessThan(200);
  });
});

describe("refusals", () => {
  test.each([
    ["an unknown parameter", "?after=0&limit=5", {}, "不支持的查询参数: limit，支持: after、opportunityCode"],
    ["a repeated parameter", "?after=1&after=2", {}, "查询参数只能传一次: after"],
    ["after not a whole number", "?after=x", {}, 'after 必须是不小于 0 的整数，收到: "x"'],
    ["a Last-Event-ID that is no position", "", { "last-event-id": "abc" }, 'Last-Event-ID 必须是不小于 0 的整数（事件的 position），收到: "abc"'],
  ])("%s: HTTP 200 and code -1 in the envelope, no stream opened", async (_name, query, headers, msg) => {
    const response = await request(appA, "GET", `${STREAM}${query}`, undefined, headers);
    expect({ status: response.status, type: response.headers.get("content-type") }).toEqual({ status: 200, type: JSON_UTF8 });
    expect(await response.json()).toEqual({ code: "-1", msg, data: null });
    expect(appA.eventStreams.openStreams).toBe(0);
  });

  test("no secret, a wrong one, or a Bearer token: 401; another method: 405 with Allow", async () => {
    for (const headers of [{ "x-internal-secret": "" }, { "x-internal-secret": "wrong-secret-0123456789" }, { "x-internal-secret": "", authorization: `Bearer ${TEST_SECRET}` }]) {
      const response = await appA.handle(new Request(`http://localhost${STREAM}`, { headers: Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== "")) }));
      expect({ status: response.status, body: await response.json() }).toEqual({ status: 401, body: { code: "-1", msg: "内部接口鉴权失败", data: null } });
    }
    const post = await request(appA, "POST", STREAM, {});
    expect({ status: post.status, allow: post.headers.get("allow") }).toEqual({ status: 405, allow: "GET" });
    expect(appA.eventStreams.openStreams).toBe(0);
  });

  test("an auditor's secret opens a stream: it is a read route", async () => {
    const reader = await open("", { "x-internal-secret": AUDITOR_SECRET });
    await update(appA, "STREAM-001", 7001);
    expect(await reader.events(1)).toHaveLength(1);
  });

  test("beyond maxStreams: HTTP 429 in the envelope with Retry-After; a slot is free again once a stream closes", async () => {
    const hub = new EventStreamHub(streamSourceOf(a.storage), { maxStreams: 2 });
    const app = createTestApp(a, { eventStreams: hub });
    try {
      const first = await open("", {}, app);
      await open("", {}, app);
      const refused = await request(app, "GET", STREAM);
      expect({ status: refused.status, retryAfter: refused.headers.get("retry-after"), body: await refused.json() }).toEqual({
        status: 429,
        retryAfter: "5",
        body: { code: "-1", msg: "同时打开的事件流已达上限（最多 2 个），请稍后重试", data: null },
      });
      await first.cancel();
      await openStreams(app, 1);
      await open("", {}, app);
    } finally {
      await hub.close();
    }
  });

  test("the database out of reach: 503 with Retry-After; any other failure: 500; no stream opened either way", async () => {
    const failing = (error: () => Error) => ({ ...a.storage, head: () => Promise.reject(error()), readAll: () => Promise.reject(error()) }) as typeof a.storage;
    const down = createTestApp({ writer: a.writer, storage: failing(() => new StorageUnavailableError("ERR_POSTGRES_CONNECTION_CLOSED", new Error("closed"))) });
    const broken = createTestApp({ writer: a.writer, storage: failing(() => new Error("boom")) });
    const unavailable = await request(down, "GET", STREAM);
    expect({ status: unavailable.status, retryAfter: unavailable.headers.get("retry-after"), code: ((await unavailable.json()) as { code: string }).code }).toEqual({ status: 503, retryAfter: "5", code: "-1" });
    const failed = await request(broken, "GET", STREAM);
    expect({ status: failed.status, body: await failed.json() }).toEqual({ status: 500, body: { code: "-1", msg: "服务器内部错误，请稍后重试", data: null } });
    expect(down.eventStreams.openStreams + broken.eventStreams.openStreams).toBe(0);
  });
});

describe("the end", () => {
  test("closing the hub (SIGTERM) ends each stream after a comment; a stream asked for afterwards gets 503", async () => {
    const hub = new EventStreamHub(streamSourceOf(a.storage));
    const app = createTestApp(a, { eventStreams: hub });
    const reader = await open("", {}, app);
    expect((await reader.next())?.comment).toBe("connected");
    await hub.close();
    expect((await reader.next())?.comment).toBe("服务正在停止，请重新连接（带 Last-Event-ID 可从断开处继续）");
    expect(await reader.next()).toBeNull();
    const late = await request(app, "GET", STREAM);
    expect({ status: late.status, retryAfter: late.headers.get("retry-after"), body: await late.json() }).toEqual({
      status: 503,
      retryAfter: "1",
      body: { code: "-1", msg: "服务正在停止，请稍后重试或连接其他实例", data: null },
    });
  });

  test("a consumer that goes away frees its slot and, with the last one, the database watcher", async () => {
    const reader = await open();
    await openStreams(appA, 1);
    await reader.cancel();
    await openStreams(appA, 0);
  });
});
