import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { OTHER_CLIENT_SECRET, startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, JSON_UTF8, UPDATE_PATH, call, createOpportunity, expectFailure, expectSuccess, reasonsOf, snapshot, update } from "./http-client";

// GET /api/events?after=&limit=: the global event feed an auditor copies, with every stored column, data and
// metadata parsed, and the head (position + hash) to keep outside the database.

const services: BackendService[] = [];
afterAll(async () => {
  await Promise.all(services.map((service) => service.dispose()));
});

/** A service whose clock steps one second per write, from 2026-04-01T00:00:01Z. */
async function steppingService(): Promise<BackendService> {
  let tick = 0;
  const service = await startBackendService({ now: () => new Date(Date.parse("2026-04-01T00:00:00.000Z") + ++tick * 1000) });
  services.push(service);
  return service;
}

const EVENT_KEYS = ["position", "eventId", "streamId", "version", "type", "schemaVersion", "data", "metadata", "recordedAt", "prevHash", "hash"];

interface FeedEvent {
  position: number;
  eventId: string;
  streamId: string;
  version: number;
  type: string;
  schemaVersion: number;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  recordedAt: string;
  prevHash: string;
  hash: string;
}
interface Feed {
  events: FeedEvent[];
  nextAfter: number | null;
  head: { position: number; hash: string } | null;
}

/** JSON.parse that keeps integers beyond 2^53 exact (as bigint), as an auditor's own tool would. */
function parseExact(text: string): unknown {
  return JSON.parse(text, (_key: string, value: unknown, context?: { source?: string }) =>
    typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value) && context?.source !== undefined && /^-?\d+$/.test(context.source)
      ? BigInt(context.source)
      : value,
  );
}

/** Canonical JSON as DESIGN.md defines it (keys sorted, no whitespace), written here without the service's code. */
function canonical(value: unknown): string {
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const record = value as Record<string, unknown>;
  return `{${Object.keys(record)
    .sort()
    .filter((key) => record[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${canonical(record[key])}`)
    .join(",")}}`;
}

/** sha256(prev_hash + "\n" + canonical JSON of the other columns), from a feed event alone. */
function recomputeHash(event: FeedEvent): string {
  const columns = {
    position: event.position,
    event_id: event.eventId,
    stream_id: event.streamId,
    version: event.version,
    type: event.type,
    schema_version: event.schemaVersion,
    data: canonical(event.data),
    metadata: canonical(event.metadata),
    recorded_at: event.recordedAt,
  };
  return new Bun.CryptoHasher("sha256").update(`${event.prevHash}\n${canonical(columns)}`).digest("hex");
}

async function feed(service: BackendService, query = "", secret?: string): Promise<Feed> {
  const answer = await call(service, "GET", `/api/events${query}`, secret === undefined ? {} : { secret });
  expectSuccess(answer);
  const data = (parseExact(answer.text) as { data: Feed }).data;
  expect(Object.keys(data)).toEqual(["events", "nextAfter", "head"]);
  return data;
}

type RawRow = Record<string, unknown> & { position: number; data: string; metadata: string; hash: string };
/** The events table as stored; positions and versions are small, so numbers, as the feed answers them. */
async function rawRows(service: BackendService): Promise<RawRow[]> {
  const rows = await service.tables.select<RawRow>("SELECT * FROM events ORDER BY position");
  return rows.map((row) => ({ ...row, position: Number(row.position), version: Number(row.version), schema_version: Number(row.schema_version) }));
}

describe("an empty store", () => {
  test("answers no events, no cursor and a null head", async () => {
    const service = await steppingService();
    const answer = await call(service, "GET", "/api/events");
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe(JSON_UTF8);
    expect(answer.text).toBe('{"code":"0","msg":"success","data":{"events":[],"nextAfter":null,"head":null}}');
  });
});

describe("the feed over several opportunities", () => {
  let service: BackendService;
  // The writes, in order: [streamId, version, type, actor].
  const expected: [string, number, string, string][] = [];

  beforeAll(async () => {
    service = await steppingService();
    const write = async (code: string, kind: "create" | "update", fields: Record<string, unknown>, secret?: string) => {
      if (kind === "create") expectSuccess(await call(service, "POST", CREATE_PATH, { body: { opportunityName: "事件流", endCustomerName: "某局", opportunityCode: code, ...fields }, ...(secret ? { secret } : {}) }));
      else expectSuccess(await update(service, { opportunityCode: code, ...fields }, secret ? { secret } : {}));
      const version = expected.filter(([stream]) => stream === code).length + 1;
      expected.push([code, version, kind === "create" ? "OpportunityCreated" : "OpportunityUpdated", secret === OTHER_CLIENT_SECRET ? "bidding" : "oms"]);
    };
    await write("FEED-A", "create", { amount: 1 });
    await write("FEED-B", "create", { stage: "lead" }, OTHER_CLIENT_SECRET);
    await write("FEED-A", "update", { amount: 2 });
    await write("FEED-C", "create", {});
    await write("FEED-B", "update", { stage: "won", status: "won" }, OTHER_CLIENT_SECRET);
    await write("FEED-A", "update", { description: "第三版" });
    // Nothing appended for a no-op or a rejection: they must not show up as positions.
    expectSuccess(await update(service, { opportunityCode: "FEED-A", amount: 2 }));
    expectFailure(await update(service, { opportunityCode: "FEED-A", stage: "nope" }), 200, "项目阶段无效: nope");
    await write("FEED-C", "update", { archived: true });
    await write("FEED-B", "update", { amount: 9.5 });
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { rawBody: '{"opportunityCode":"FEED-C","salesExpansionId":9223372036854775807}' }));
    expected.push(["FEED-C", 3, "OpportunityUpdated", "oms"]);
    await write("FEED-A", "update", { archived: true });
    await write("FEED-B", "update", { description: "收尾" }, OTHER_CLIENT_SECRET);
    await write("FEED-C", "update", { description: "结束" });
    expect(expected.length).toBe(12);
  });

  test("answers every event in global order across opportunities, with per-stream versions, types and actors", async () => {
    const { events, nextAfter } = await feed(service);
    expect(events.map((event) => event.position)).toEqual(expected.map((_, index) => index + 1));
    expect(events.map((event) => [event.streamId, event.version, event.type, event.metadata.actor])).toEqual(expected);
    expect(nextAfter).toBeNull();
  });

  test("each event has exactly the stored columns, recordedAt from the clock, and equals its row", async () => {
    const { events } = await feed(service);
    const rows = await rawRows(service);
    expect(events.length).toBe(rows.length);
    events.forEach((event, index) => {
      const row = rows[index]!;
      expect(Object.keys(event)).toEqual(EVENT_KEYS);
      expect({
        position: event.position,
        eventId: event.eventId,
        streamId: event.streamId,
        version: event.version,
        type: event.type,
        schemaVersion: event.schemaVersion,
        recordedAt: event.recordedAt,
        prevHash: event.prevHash,
        hash: event.hash,
      }).toEqual({
        position: row.position,
        eventId: row.event_id as string,
        streamId: row.stream_id as string,
        version: row.version as number,
        type: row.type as string,
        schemaVersion: row.schema_version as number,
        recordedAt: row.recorded_at as string,
        prevHash: row.prev_hash as string,
        hash: row.hash,
      });
      expect(event.eventId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(event.schemaVersion).toBe(1);
      // The clock steps a second per transaction: recordedAt is UTC with milliseconds and rises with position.
      expect(event.recordedAt).toMatch(/^2026-04-01T00:00:\d{2}\.000Z$/);
      if (index > 0) expect(Date.parse(event.recordedAt)).toBeGreaterThan(Date.parse(events[index - 1]!.recordedAt));
    });
    expect(events[0]!.recordedAt).toBe("2026-04-01T00:00:01.000Z");
  });

  test("data and metadata are parsed objects, not JSON strings, and hold exactly the stored JSON", async () => {
    const { events } = await feed(service);
    const rows = await rawRows(service);
    events.forEach((event, index) => {
      expect(typeof event.data).toBe("object");
      expect(typeof event.metadata).toBe("object");
      expect(canonical(event.data)).toBe(rows[index]!.data);
      expect(canonical(event.metadata)).toBe(rows[index]!.metadata);
    });
    expect(events[0]!.data).toEqual({ id: 1, opportunityCode: "FEED-A", opportunityName: "事件流", endCustomerName: "某局", amount: 1, archived: false, pushedToOms: false, status: "active" });
    expect(events[2]!.data).toEqual({ changes: { amount: 2 }, previous: { amount: 1 } });
    expect(events[4]!.data).toEqual({ changes: { stage: "won", status: "won" }, previous: { stage: "lead", status: "active" } });
    expect(events[4]!.metadata).toMatchObject({ actor: "bidding" });
    expect(typeof events[4]!.metadata.requestId).toBe("string");
  });

  test("a 64-bit ID in data keeps every digit", async () => {
    const answer = await call(service, "GET", "/api/events?after=8&limit=1");
    expectSuccess(answer);
    expect(answer.text).toContain('"changes":{"salesExpansionId":9223372036854775807}');
    const { events } = await feed(service, "?after=8&limit=1");
    expect(events[0]!.data).toEqual({ changes: { salesExpansionId: 9223372036854775807n }, previous: { salesExpansionId: null } });
  });

  test("the hashes link: the first prevHash is 64 zeros, each prevHash is the previous hash, each hash recomputes", async () => {
    const { events } = await feed(service);
    expect(events[0]!.prevHash).toBe("0".repeat(64));
    for (let index = 1; index < events.length; index++) expect(events[index]!.prevHash).toBe(events[index - 1]!.hash);
    for (const event of events) {
      expect(event.hash).toMatch(/^[0-9a-f]{64}$/);
      expect({ position: event.position, hash: recomputeHash(event) }).toEqual({ position: event.position, hash: event.hash });
    }
    expect(new Set(events.map((event) => event.hash)).size).toBe(events.length);
  });

  test("head is the last event's position and hash, on every page", async () => {
    const { events, head } = await feed(service);
    const last = events[events.length - 1]!;
    expect(head).toEqual({ position: 12, hash: last.hash });
    const lastRow = (await rawRows(service)).at(-1)!;
    expect(head).toEqual({ position: lastRow.position, hash: lastRow.hash });
    expect((await feed(service, "?limit=1")).head).toEqual(head);
    expect((await feed(service, "?after=12")).head).toEqual(head);
  });

  /** Follows nextAfter from the start until it is null. */
  async function walk(limit: number) {
    const pages: number[][] = [];
    const cursors: (number | null)[] = [];
    let after = 0;
    for (;;) {
      const page = await feed(service, `?after=${after}&limit=${limit}`);
      pages.push(page.events.map((event) => event.position));
      cursors.push(page.nextAfter);
      if (page.nextAfter === null) break;
      expect(page.nextAfter).toBe(page.events[page.events.length - 1]!.position);
      after = page.nextAfter;
      expect(pages.length).toBeLessThan(100);
    }
    return { pages, cursors, positions: pages.flat() };
  }

  const ALL = Array.from({ length: 12 }, (_, index) => index + 1);

  test("paging with after/nextAfter (limit=5) covers every event exactly once: pages of 5, 5, 2", async () => {
    const { pages, cursors, positions } = await walk(5);
    expect(pages.map((page) => page.length)).toEqual([5, 5, 2]);
    expect(cursors).toEqual([5, 10, null]);
    expect(positions).toEqual(ALL);
  });

  test.each([1, 2, 3, 4, 6, 11, 12, 13, 1000])("paging with limit=%d covers every event exactly once", async (limit) => {
    expect((await walk(limit)).positions).toEqual(ALL);
  });

  test("the pages put together equal the whole feed, event for event", async () => {
    const whole = (await feed(service)).events;
    const pieces = [...(await feed(service, "?limit=4")).events, ...(await feed(service, "?after=4&limit=4")).events, ...(await feed(service, "?after=8&limit=100")).events];
    expect(pieces).toEqual(whole);
  });

  test("after at or beyond the head answers no events and no cursor", async () => {
    for (const after of [12, 13, 999999]) {
      const page = await feed(service, `?after=${after}`);
      expect(page.events).toEqual([]);
      expect(page.nextAfter).toBeNull();
    }
  });

  test("reading the feed writes nothing", async () => {
    const before = await snapshot(service);
    await feed(service);
    await feed(service, "?after=3&limit=2");
    expect(await snapshot(service)).toEqual(before);
  });

  test("an event written later continues the chain from the head an auditor kept", async () => {
    const kept = (await feed(service)).head!;
    await createOpportunity(service, { opportunityCode: "FEED-D" });
    const page = await feed(service, `?after=${kept.position}`);
    expect(page.events.map((event) => [event.position, event.streamId, event.version, event.type])).toEqual([[kept.position + 1, "FEED-D", 1, "OpportunityCreated"]]);
    expect(page.events[0]!.prevHash).toBe(kept.hash);
    expect(page.head).toEqual({ position: kept.position + 1, hash: page.events[0]!.hash });
    expect(page.nextAfter).toBeNull();
  });
});

describe("default page size", () => {
  test("without limit the feed answers 100 events and nextAfter 100", async () => {
    const service = await steppingService();
    await createOpportunity(service, { opportunityCode: "FEED-MANY", amount: 1 });
    for (let amount = 2; amount <= 105; amount++) expectSuccess(await update(service, { opportunityCode: "FEED-MANY", amount }));
    const first = await feed(service);
    expect(first.events.map((event) => event.position)).toEqual(Array.from({ length: 100 }, (_, index) => index + 1));
    expect(first.nextAfter).toBe(100);
    expect(first.head?.position).toBe(105);
    const rest = await feed(service, "?after=100");
    expect(rest.events.map((event) => event.position)).toEqual([101, 102, 103, 104, 105]);
    expect(rest.nextAfter).toBeNull();
  });
});

describe("feed failures", () => {
  let service: BackendService;
  beforeAll(async () => {
    service = await steppingService();
  });

  test.each([
    ["limit=0", 'limit 必须是1 到 1000 之间的整数，收到: "0"'],
    ["limit=1001", 'limit 必须是1 到 1000 之间的整数，收到: "1001"'],
    ["limit=x", 'limit 必须是1 到 1000 之间的整数，收到: "x"'],
    ["after=-1", 'after 必须是不小于 0 的整数，收到: "-1"'],
    ["after=abc", 'after 必须是不小于 0 的整数，收到: "abc"'],
    ["afterVersion=3", "不支持的查询参数: afterVersion，支持: after、limit、format"],
    ["position=3&offset=2", "不支持的查询参数: position、offset，支持: after、limit、format"],
  ])("?%s is rejected with a message naming it", async (query, message) => {
    expectFailure(await call(service, "GET", `/api/events?${query}`), 200, message);
  });

  test("unknown parameters and bad values are reported together", async () => {
    const answer = await call(service, "GET", "/api/events?from=1&after=x&limit=0");
    expectFailure(answer, 200);
    expect(reasonsOf(answer.json.msg).sort()).toEqual(
      ["不支持的查询参数: from，支持: after、limit、format", 'after 必须是不小于 0 的整数，收到: "x"', 'limit 必须是1 到 1000 之间的整数，收到: "0"'].sort(),
    );
  });

  test("needs a valid secret", async () => {
    expectFailure(await call(service, "GET", "/api/events", { secret: null }), 401, "内部接口鉴权失败");
    expectFailure(await call(service, "GET", "/api/events?limit=0", { secret: "wrong-secret-0123456789" }), 401, "内部接口鉴权失败");
  });
});
