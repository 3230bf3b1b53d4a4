import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { OTHER_CLIENT_SECRET, startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, JSON_UTF8, UPDATE_PATH, call, createOpportunity, expectFailure, expectSuccess, reasonsOf, snapshot, streamOf, update } from "./http-client";

// GET /api/opportunities/{code}/history: every event of one opportunity, in order, with who, when and what
// changed from what to what; paged with afterVersion and limit.

let service: BackendService;
/** The clock recorded_at reads; each test sets it before a write. */
let clock = new Date("2026-04-01T01:00:00.000Z");

beforeAll(async () => {
  service = await startBackendService({ now: () => clock });
});
afterAll(() => service.dispose());

const historyPath = (code: string, query = "") => `/api/opportunities/${encodeURIComponent(code)}/history${query}`;

interface HistoryPage {
  opportunityCode: string;
  items: { position: number; version: number; type: string; recordedAt: string; actor: string; requestId: string; changes: { field: string; from: unknown; to: unknown }[] }[];
  nextAfterVersion: number | null;
}

async function history(code: string, query = "", headers: Record<string, string> = {}): Promise<HistoryPage> {
  const data = expectSuccess(await call(service, "GET", historyPath(code, query), { headers }));
  expect(Object.keys(data as object)).toEqual(["opportunityCode", "items", "nextAfterVersion"]);
  return data as HistoryPage;
}

const at = (iso: string) => {
  clock = new Date(iso);
};

describe("GET /api/opportunities/{code}/history: what changed, who, when", () => {
  const CODE = "OPP-HIST-001";
  const OTHER = "OPP-HIST-OTHER";

  beforeAll(async () => {
    // Position 1: created by oms.
    at("2026-04-01T01:00:00.000Z");
    await createOpportunity(service, { opportunityCode: CODE, opportunityName: "华东数据中心", endCustomerName: "某市大数据局", stage: "bidding", amount: 100 });
    // Position 2: bidding changes three fields (confidence in lower case is stored upper case).
    at("2026-04-02T02:00:00.250Z");
    expectSuccess(await update(service, { opportunityCode: CODE, amount: 200, confidencePct: "b", stage: "won" }, { secret: OTHER_CLIENT_SECRET, headers: { "x-request-id": "bid-req-2" } }));
    // Position 3: another opportunity, so that positions and versions differ.
    at("2026-04-02T03:00:00.000Z");
    await createOpportunity(service, { opportunityCode: OTHER });
    // Position 4: oms sets a description and archives.
    at("2026-04-03T04:00:00.000Z");
    expectSuccess(await update(service, { opportunityCode: CODE, description: "首次说明", archived: true }, { headers: { "x-request-id": "oms-req-3" } }));
    // A request that changes nothing and one that is rejected append nothing.
    at("2026-04-03T05:00:00.000Z");
    expectSuccess(await update(service, { opportunityCode: CODE, amount: 200, stage: "won" }));
    expectFailure(await update(service, { opportunityCode: CODE, stage: "nonsense" }), 200, "项目阶段无效: nonsense");
    // Position 5: oms clears the description ("" clears an optional text field).
    at("2026-04-04T06:00:00.999Z");
    expectSuccess(await update(service, { opportunityCode: CODE, description: "" }, { headers: { "x-request-id": "oms-req-4" } }));
  });

  test("answers every event in order with position, version, type, recordedAt, actor, requestId and each field's from/to", async () => {
    const page = await history(CODE);
    const createRequestId = page.items[0]!.requestId;
    expect(page).toEqual({
      opportunityCode: CODE,
      items: [
        {
          position: 1,
          version: 1,
          type: "OpportunityCreated",
          recordedAt: "2026-04-01T01:00:00.000Z",
          actor: "oms",
          requestId: createRequestId,
          changes: [
            { field: "endCustomerName", from: null, to: "某市大数据局" },
            { field: "opportunityName", from: null, to: "华东数据中心" },
            { field: "amount", from: null, to: 100 },
            { field: "stage", from: null, to: "bidding" },
            { field: "archived", from: null, to: false },
            { field: "pushedToOms", from: null, to: false },
            { field: "status", from: null, to: "active" },
          ],
        },
        {
          position: 2,
          version: 2,
          type: "OpportunityUpdated",
          recordedAt: "2026-04-02T02:00:00.250Z",
          actor: "bidding",
          requestId: "bid-req-2",
          changes: [
            { field: "amount", from: 100, to: 200 },
            { field: "confidencePct", from: null, to: "B" },
            { field: "stage", from: "bidding", to: "won" },
          ],
        },
        {
          position: 4,
          version: 3,
          type: "OpportunityUpdated",
          recordedAt: "2026-04-03T04:00:00.000Z",
          actor: "oms",
          requestId: "oms-req-3",
          changes: [
            { field: "archived", from: false, to: true },
            { field: "description", from: null, to: "首次说明" },
          ],
        },
        {
          position: 5,
          version: 4,
          type: "OpportunityUpdated",
          recordedAt: "2026-04-04T06:00:00.999Z",
          actor: "oms",
          requestId: "oms-req-4",
          changes: [{ field: "description", from: "首次说明", to: null }],
        },
      ],
      nextAfterVersion: null,
    });
  });

  test("a request without X-Request-Id gets a generated one, the same in the answer header and in the history", async () => {
    at("2026-04-05T00:00:00.000Z");
    const response = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: OTHER, amount: 42 } });
    expectSuccess(response);
    const generated = response.headers.get("x-request-id");
    expect(generated).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const items = (await history(OTHER)).items;
    expect(items.map((item) => item.version)).toEqual([1, 2]);
    expect(items[1]).toMatchObject({ actor: "oms", requestId: generated!, changes: [{ field: "amount", from: null, to: 42 }] });
  });

  test("an X-Request-Id that is not sane (spaces, over 128 characters) is replaced, never stored as given", async () => {
    at("2026-04-05T01:00:00.000Z");
    expectSuccess(await update(service, { opportunityCode: OTHER, amount: 43 }, { headers: { "x-request-id": "has a space" } }));
    at("2026-04-05T02:00:00.000Z");
    expectSuccess(await update(service, { opportunityCode: OTHER, amount: 44 }, { headers: { "x-request-id": "x".repeat(129) } }));
    const items = (await history(OTHER, "?afterVersion=2")).items;
    expect(items.map((item) => item.version)).toEqual([3, 4]);
    for (const item of items) {
      expect(item.requestId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(items[0]!.requestId).not.toBe(items[1]!.requestId);
  });

  test("the answer echoes the reader's own X-Request-Id and has the UTF-8 JSON content type", async () => {
    const answer = await call(service, "GET", historyPath(CODE), { headers: { "x-request-id": "audit-read-1" } });
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe(JSON_UTF8);
    expect(answer.headers.get("x-request-id")).toBe("audit-read-1");
  });

  test("reading the history writes nothing", async () => {
    const before = await snapshot(service);
    await history(CODE);
    await history(CODE, "?limit=1");
    expect(await snapshot(service)).toEqual(before);
  });

  test("a code with surrounding spaces is trimmed; a URL-encoded Chinese code is found", async () => {
    expect((await history(` ${CODE} `)).opportunityCode).toBe(CODE);
    at("2026-04-06T00:00:00.000Z");
    await createOpportunity(service, { opportunityCode: "商机-华东-历史" });
    const page = await history("商机-华东-历史");
    expect(page.opportunityCode).toBe("商机-华东-历史");
    expect(page.items.map((item) => [item.version, item.type])).toEqual([[1, "OpportunityCreated"]]);
  });

  test("64-bit IDs keep every digit in from and to", async () => {
    at("2026-04-07T00:00:00.000Z");
    expectSuccess(await call(service, "POST", CREATE_PATH, { rawBody: '{"opportunityCode":"OPP-HIST-LONG-ID","opportunityName":"长ID","endCustomerName":"某局","salesExpansionId":9223372036854775807}' }));
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { rawBody: '{"opportunityCode":"OPP-HIST-LONG-ID","salesExpansionId":9007199254740993}' }));
    const answer = await call(service, "GET", historyPath("OPP-HIST-LONG-ID"));
    expectSuccess(answer);
    expect(answer.text).toContain('{"field":"salesExpansionId","from":null,"to":9223372036854775807}');
    expect(answer.text).toContain('{"field":"salesExpansionId","from":9223372036854775807,"to":9007199254740993}');
  });
});

describe("paging a long history with afterVersion and limit", () => {
  const CODE = "OPP-HIST-PAGED";
  const UPDATES = 250;
  const LATEST = UPDATES + 1;

  beforeAll(async () => {
    at("2026-05-01T00:00:00.000Z");
    await createOpportunity(service, { opportunityCode: CODE, amount: 1 });
    // Version v holds amount v: each update raises it by one.
    for (let amount = 2; amount <= LATEST; amount++) {
      clock = new Date(Date.parse("2026-05-01T00:00:00.000Z") + amount * 1000);
      expectSuccess(await update(service, { opportunityCode: CODE, amount }));
    }
    expect((await streamOf(service, CODE)).length).toBe(LATEST);
  });

  /** Follows nextAfterVersion from the start until it is null; returns each page's versions and the cursors. */
  async function walk(limit: number | undefined) {
    const pages: number[][] = [];
    const cursors: (number | null)[] = [];
    let after = 0;
    for (;;) {
      const params = new URLSearchParams({ afterVersion: String(after) });
      if (limit !== undefined) params.set("limit", String(limit));
      const page = await history(CODE, `?${params}`);
      pages.push(page.items.map((item) => item.version));
      cursors.push(page.nextAfterVersion);
      if (page.nextAfterVersion === null) break;
      expect(page.nextAfterVersion).toBe(page.items[page.items.length - 1]!.version);
      after = page.nextAfterVersion;
      expect(pages.length).toBeLessThan(1000);
    }
    return { pages, cursors, versions: pages.flat() };
  }

  const ALL_VERSIONS = Array.from({ length: LATEST }, (_, index) => index + 1);

  test("without parameters: the first 100 events and nextAfterVersion 100", async () => {
    const page = await history(CODE);
    expect(page.items.map((item) => item.version)).toEqual(ALL_VERSIONS.slice(0, 100));
    expect(page.nextAfterVersion).toBe(100);
  });

  test("limit=100 takes three pages (100, 100, 51) and collects every version exactly once, in order", async () => {
    const { pages, cursors, versions } = await walk(100);
    expect(pages.map((page) => page.length)).toEqual([100, 100, 51]);
    expect(cursors).toEqual([100, 200, null]);
    expect(versions).toEqual(ALL_VERSIONS);
  });

  test("an odd page size (limit=7) still collects every version exactly once", async () => {
    const { pages, versions } = await walk(7);
    expect(pages.length).toBe(Math.ceil(LATEST / 7));
    expect(versions).toEqual(ALL_VERSIONS);
  });

  test("limit=1000 answers the whole history at once", async () => {
    const { pages, cursors } = await walk(1000);
    expect(pages).toEqual([ALL_VERSIONS]);
    expect(cursors).toEqual([null]);
  });

  test("a page that ends exactly at the latest version says there is no more; one short of it points to the last", async () => {
    expect((await history(CODE, `?limit=${LATEST}`)).nextAfterVersion).toBeNull();
    const short = await history(CODE, `?limit=${LATEST - 1}`);
    expect(short.nextAfterVersion).toBe(LATEST - 1);
    const rest = await history(CODE, `?afterVersion=${LATEST - 1}&limit=${LATEST - 1}`);
    expect(rest.items.map((item) => item.version)).toEqual([LATEST]);
    expect(rest.nextAfterVersion).toBeNull();
  });

  test("every item of the walk has the amount change from v-1 to v, positions rising", async () => {
    const page = await history(CODE, "?limit=1000");
    let lastPosition = 0;
    for (const item of page.items) {
      expect(item.position).toBeGreaterThan(lastPosition);
      lastPosition = item.position;
      if (item.version === 1) continue;
      expect(item).toMatchObject({ type: "OpportunityUpdated", actor: "oms", changes: [{ field: "amount", from: item.version - 1, to: item.version }] });
      expect(item.recordedAt).toBe(new Date(Date.parse("2026-05-01T00:00:00.000Z") + item.version * 1000).toISOString());
    }
  });

  test("afterVersion at or beyond the latest answers no items and no cursor", async () => {
    for (const after of [LATEST, LATEST + 1, 999999]) {
      expect(await history(CODE, `?afterVersion=${after}`)).toEqual({ opportunityCode: CODE, items: [], nextAfterVersion: null });
    }
  });

  test("afterVersion=250&limit=1 answers version 251 alone", async () => {
    const page = await history(CODE, "?afterVersion=250&limit=1");
    expect(page.items.map((item) => item.version)).toEqual([251]);
    expect(page.items[0]!.changes).toEqual([{ field: "amount", from: 250, to: 251 }]);
    expect(page.nextAfterVersion).toBeNull();
  });
});

describe("history failures", () => {
  test("an unknown code answers 商机不存在 in the envelope, HTTP 200", async () => {
    const answer = await call(service, "GET", historyPath("OPP-HIST-NONE"));
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe(JSON_UTF8);
    expect(answer.text).toBe('{"code":"-1","msg":"商机不存在","data":null}');
    expectFailure(await call(service, "GET", historyPath("OPP-HIST-NONE", "?afterVersion=3&limit=5")), 200, "商机不存在");
  });

  test.each([
    ["0", 'limit 必须是1 到 1000 之间的整数，收到: "0"'],
    ["1001", 'limit 必须是1 到 1000 之间的整数，收到: "1001"'],
    ["x", 'limit 必须是1 到 1000 之间的整数，收到: "x"'],
    ["-1", 'limit 必须是1 到 1000 之间的整数，收到: "-1"'],
    ["1.5", 'limit 必须是1 到 1000 之间的整数，收到: "1.5"'],
    ["1e2", 'limit 必须是1 到 1000 之间的整数，收到: "1e2"'],
  ])("limit=%s is rejected naming limit and the value", async (value, message) => {
    expectFailure(await call(service, "GET", historyPath("OPP-HIST-001", `?limit=${value}`)), 200, message);
  });

  test.each([
    ["-1", 'afterVersion 必须是不小于 0 的整数，收到: "-1"'],
    ["abc", 'afterVersion 必须是不小于 0 的整数，收到: "abc"'],
  ])("afterVersion=%s is rejected naming afterVersion and the value", async (value, message) => {
    expectFailure(await call(service, "GET", historyPath("OPP-HIST-001", `?afterVersion=${value}`)), 200, message);
  });

  test("an unknown parameter is named, with the ones supported", async () => {
    expectFailure(await call(service, "GET", historyPath("OPP-HIST-001", "?after=5")), 200, "不支持的查询参数: after，支持: afterVersion、limit");
  });

  test("unknown parameters and bad values are reported together, separated by ；", async () => {
    const answer = await call(service, "GET", historyPath("OPP-HIST-001", "?page=2&size=10&limit=0&afterVersion=x"));
    expectFailure(answer, 200);
    expect(reasonsOf(answer.json.msg).sort()).toEqual(
      ["不支持的查询参数: page、size，支持: afterVersion、limit", 'limit 必须是1 到 1000 之间的整数，收到: "0"', 'afterVersion 必须是不小于 0 的整数，收到: "x"'].sort(),
    );
  });

  test("an empty limit or afterVersion means the default", async () => {
    const page = await history("OPP-HIST-001", "?limit=&afterVersion=");
    expect(page.items.map((item) => item.version)).toEqual([1, 2, 3, 4]);
  });

  test("needs a valid secret: 401 before anything else", async () => {
    expectFailure(await call(service, "GET", historyPath("OPP-HIST-001"), { secret: null }), 401, "内部接口鉴权失败");
    expectFailure(await call(service, "GET", historyPath("OPP-HIST-001", "?limit=0&bogus=1"), { secret: "wrong-secret-0123456789" }), 401, "内部接口鉴权失败");
  });
});
