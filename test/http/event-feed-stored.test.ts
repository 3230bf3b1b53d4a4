import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { feedEventSchema, storedEventSchema } from "../../src/http/openapi-events";
import { storedEventRows } from "../support/test-backend";
import { AUDITOR_SECRET, startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, JSON_UTF8, call, expectFailure, expectSuccess, reasonsOf, update } from "./http-client";

// GET /api/events?format=stored: each event exactly as hashed (the column names, data and metadata as their
// stored text), so an auditor's tool recomputes every hash, in any language, without parsing data. On both
// backends (TEST_BACKEND).

const STORED_KEYS = ["position", "event_id", "stream_id", "version", "type", "schema_version", "data", "metadata", "recorded_at", "prev_hash", "hash"];
const DEFAULT_KEYS = ["position", "eventId", "streamId", "version", "type", "schemaVersion", "data", "metadata", "recordedAt", "prevHash", "hash"];
const BIG_ID = "9007199254740993";

type StoredItem = Record<string, unknown> & { position: number; data: string; metadata: string; prev_hash: string; hash: string };
interface StoredPage {
  events: StoredItem[];
  nextAfter: number | null;
  head: { position: number; hash: string } | null;
}

let service: BackendService;

beforeAll(async () => {
  let tick = 0;
  service = await startBackendService({ now: () => new Date(Date.parse("2026-04-01T00:00:00.000Z") + ++tick * 1000) });
  // A 64-bit ID beyond 2^53, Chinese text, a quote and a line feed inside a text, and a cleared field.
  const created = await call(service, "POST", CREATE_PATH, {
    rawBody: `{"opportunityCode":"STORED-A","opportunityName":"园区\\"安防\\"项目","endCustomerName":"某市公安局","salesExpansionId":${BIG_ID},"description":"第一行\\n第二行"}`,
  });
  expectSuccess(created);
  expectSuccess(await call(service, "POST", CREATE_PATH, { body: { opportunityCode: "STORED-B", opportunityName: "第二个", endCustomerName: "某局", amount: 9.5 } }));
  expectSuccess(await update(service, { opportunityCode: "STORED-A", description: "" }));
  expectSuccess(await update(service, { opportunityCode: "STORED-B", stage: "won" }));
  expectSuccess(await update(service, { opportunityCode: "STORED-A", amount: 2800000 }));
});
afterAll(async () => {
  await service?.dispose();
});

async function storedPage(query: string, secret?: string): Promise<{ text: string; page: StoredPage }> {
  const answer = await call(service, "GET", `/api/events?format=stored${query}`, secret === undefined ? {} : { secret });
  expectSuccess(answer);
  // Plain JSON.parse, as any JavaScript verifier would: nothing in the stored form can be rounded.
  const page = (JSON.parse(answer.text) as { data: StoredPage }).data;
  expect(Object.keys(page)).toEqual(["events", "nextAfter", "head"]);
  return { text: answer.text, page };
}

/** The README's recipe, written here without the service's code. */
function recipeHash(event: StoredItem): string {
  const hashed = ["data", "event_id", "metadata", "position", "recorded_at", "schema_version", "stream_id", "type", "version"];
  const json = `{${hashed.map((name) => `${JSON.stringify(name)}:${JSON.stringify(event[name])}`).join(",")}}`;
  return createHash("sha256").update(`${event.prev_hash}\n${json}`, "utf8").digest("hex");
}

describe("format=stored", () => {
  test("each event has exactly the stored column names, in the table's order", async () => {
    const { page } = await storedPage("");
    expect(page.events.length).toBe(5);
    for (const event of page.events) expect(Object.keys(event)).toEqual(STORED_KEYS);
    expect(page.nextAfter).toBeNull();
  });

  test("every column equals the stored row; data and metadata are strings holding the stored text", async () => {
    const { page } = await storedPage("");
    const rows = await storedEventRows(service);
    expect(page.events.length).toBe(rows.length);
    page.events.forEach((event, index) => {
      expect(typeof event.data).toBe("string");
      expect(typeof event.metadata).toBe("string");
      expect(event).toEqual({ ...rows[index]! });
    });
    expect(page.events.map((event) => [event.position, event.stream_id, event.version, event.type])).toEqual([
      [1, "STORED-A", 1, "OpportunityCreated"],
      [2, "STORED-B", 1, "OpportunityCreated"],
      [3, "STORED-A", 2, "OpportunityUpdated"],
      [4, "STORED-B", 2, "OpportunityUpdated"],
      [5, "STORED-A", 3, "OpportunityUpdated"],
    ]);
  });

  test("the 64-bit ID, the Chinese text and the escapes survive a plain JSON.parse, as the stored text", async () => {
    const { page } = await storedPage("&limit=1");
    const data = page.events[0]!.data;
    expect(data).toContain(`"salesExpansionId":${BIG_ID}`);
    expect(data).toContain('"opportunityName":"园区\\"安防\\"项目"');
    expect(data).toContain('"description":"第一行\\n第二行"');
    const cleared = (await storedPage("&after=2&limit=1")).page.events[0]!.data;
    expect(cleared).toBe('{"changes":{"description":null},"previous":{"description":"第一行\\n第二行"}}');
  });

  test("every hash recomputes from the stored form by the published recipe, and the prev_hashes link", async () => {
    const { page } = await storedPage("");
    let previous = "0".repeat(64);
    for (const event of page.events) {
      expect({ position: event.position, prev: event.prev_hash, hash: recipeHash(event) }).toEqual({ position: event.position, prev: previous, hash: event.hash });
      previous = event.hash;
    }
    expect(page.head).toEqual({ position: 5, hash: previous });
  });

  test("pages with after, limit and nextAfter as the default form does, and the pages together are the whole feed", async () => {
    const whole = (await storedPage("")).page;
    const pages: StoredPage[] = [];
    let after: number | null = 0;
    while (after !== null) {
      const { page }: { page: StoredPage } = await storedPage(`&after=${after}&limit=2`);
      pages.push(page);
      after = page.nextAfter;
      expect(pages.length).toBeLessThan(10);
    }
    expect(pages.map((page) => page.events.map((event) => event.position))).toEqual([[1, 2], [3, 4], [5]]);
    expect(pages.map((page) => page.nextAfter)).toEqual([2, 4, null]);
    for (const page of pages) expect(page.head).toEqual(whole.head);
    expect(pages.flatMap((page) => page.events)).toEqual(whole.events);
    expect((await storedPage("&after=5")).page).toEqual({ events: [], nextAfter: null, head: whole.head });
  });

  test("the auditor's read-only secret may call it and gets the same answer", async () => {
    const asIntegrator = await storedPage("&limit=3");
    const asAuditor = await storedPage("&limit=3", AUDITOR_SECRET);
    expect(asAuditor.text).toBe(asIntegrator.text);
  });

  test("is the same chain as the default form: positions and hashes agree, the names differ", async () => {
    const stored = (await storedPage("")).page;
    const answer = await call(service, "GET", "/api/events");
    const defaultForm = (JSON.parse(answer.text) as { data: { events: Record<string, unknown>[]; head: unknown } }).data;
    for (const event of defaultForm.events) expect(Object.keys(event)).toEqual(DEFAULT_KEYS);
    expect(defaultForm.events.map((event) => [event.position, event.prevHash, event.hash])).toEqual(stored.events.map((event) => [event.position, event.prev_hash, event.hash]));
    expect(defaultForm.head).toEqual(stored.head);
  });
});

describe("format absent or default", () => {
  test("format=default answers exactly what no format answers, with parsed data", async () => {
    for (const query of ["", "?after=1&limit=2"]) {
      const plain = await call(service, "GET", `/api/events${query}`);
      const withDefault = await call(service, "GET", `/api/events${query}${query ? "&" : "?"}format=default`);
      expectSuccess(plain);
      expect(withDefault.text).toBe(plain.text);
    }
    const plain = await call(service, "GET", "/api/events?limit=1");
    expect(plain.text).toContain(`"salesExpansionId":${BIG_ID}`);
    expect(typeof (plain.json.data as { events: { data: unknown }[] }).events[0]!.data).toBe("object");
  });

  test("format= (empty) is the default, as other empty query parameters are", async () => {
    expect((await call(service, "GET", "/api/events?format=")).text).toBe((await call(service, "GET", "/api/events")).text);
  });
});

describe("a bad format", () => {
  test.each(["xml", "Stored", "STORED", "raw", "stored ", "camel"])("format=%s is refused with the accepted values", async (value) => {
    const answer = await call(service, "GET", `/api/events?format=${encodeURIComponent(value)}`);
    expectFailure(answer, 200, `format 必须是 default、stored 之一，收到: ${JSON.stringify(value)}`);
  });

  test("is reported together with the other bad parameters, and a repeated format is refused", async () => {
    const answer = await call(service, "GET", "/api/events?format=xml&limit=0");
    expectFailure(answer, 200);
    const reasons = reasonsOf(answer.json.msg);
    expect(reasons.length).toBe(2);
    expect(reasons[0]).toStartWith("limit ");
    expect(reasons[1]).toBe('format 必须是 default、stored 之一，收到: "xml"');
    expectFailure(await call(service, "GET", "/api/events?format=stored&format=default"), 200, "查询参数只能传一次: format");
    expectFailure(await call(service, "GET", "/api/events?formats=stored"), 200, "不支持的查询参数: formats，支持: after、limit、format");
  });
});

describe("the exported OpenAPI item schemas", () => {
  test("name exactly the keys of each form, all required, each property typed", async () => {
    const stored = (await storedPage("&limit=1")).page.events[0]!;
    const plain = (JSON.parse((await call(service, "GET", "/api/events?limit=1")).text) as { data: { events: Record<string, unknown>[] } }).data.events[0]!;
    for (const [schema, event] of [
      [storedEventSchema, stored],
      [feedEventSchema, plain],
    ] as const) {
      expect(Object.keys(schema.properties)).toEqual(Object.keys(event));
      expect(schema.required).toEqual(Object.keys(event));
      for (const [name, property] of Object.entries(schema.properties) as [string, { type: string }][]) {
        const value = event[name as keyof typeof event];
        const actual = Number.isInteger(value) ? "integer" : typeof value;
        expect({ name, type: property.type }).toEqual({ name, type: actual });
      }
    }
  });
});

test("answers in the JSON envelope with the charset", async () => {
  const answer = await call(service, "GET", "/api/events?format=stored&limit=1");
  expect(answer.contentType).toBe(JSON_UTF8);
});
