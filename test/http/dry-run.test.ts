import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { BATCH_UPDATE_PATH } from "../../src/http/opportunity-routes";
import { startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, UPDATE_PATH, call, createOpportunity, expectFailure, expectSuccess, snapshot, type Answer, type SendOptions } from "./http-client";

// ?dryRun=true on the write routes (issue 14, item 2): parsed, validated and decided against the current state,
// nothing written (no event, no projection change, no idempotency key taken), answered with X-Dry-Run: true and
// the code and msg the real call then answers. Any other query parameter on a write route is refused.

const now = () => new Date("2026-05-01T02:00:00.000Z");
let service: BackendService;
beforeEach(async () => {
  service = await startBackendService({ now });
  await createOpportunity(service, { opportunityCode: "D-1", amount: 1000000, stage: "negotiation" });
});
afterEach(() => service.dispose());

type Route = { name: string; method: string; path: string };
const UPDATE: Route = { name: "update", method: "PUT", path: UPDATE_PATH };
const CREATE: Route = { name: "create", method: "POST", path: CREATE_PATH };
const BATCH: Route = { name: "batch-update", method: "PUT", path: BATCH_UPDATE_PATH };

const send = (route: Route, query: string, body: unknown, options: Omit<SendOptions, "body"> = {}) => call(service, route.method, `${route.path}${query}`, { ...options, body });

/** What must stay as it was after a dry run: events, projection rows, and the idempotency keys. */
async function stored(): Promise<unknown> {
  return { ...(await snapshot(service)), keys: await service.tables.count("idempotency_keys") };
}

/** The dry run and then the real call: same status and code and msg; the dry run wrote nothing. */
async function dryThenReal(route: Route, body: unknown, options: Omit<SendOptions, "body"> = {}): Promise<{ dry: Answer; real: Answer }> {
  const before = await stored();
  const dry = await send(route, "?dryRun=true", body, options);
  expect(dry.headers.get("x-dry-run")).toBe("true");
  expect(await stored()).toEqual(before);
  const real = await send(route, "", body, options);
  expect(real.headers.get("x-dry-run")).toBeNull();
  expect({ status: dry.status, code: dry.json.code, msg: dry.json.msg }).toEqual({ status: real.status, code: real.json.code, msg: real.json.msg });
  return { dry, real };
}

describe("a dry run answers what the real call then answers, and writes nothing", () => {
  test("update: data {id, version, changes}; the real call reaches that version with those values", async () => {
    const { dry, real } = await dryThenReal(UPDATE, { opportunityCode: "D-1", amount: 2800000, stage: "won", confidencePct: "a" });
    expect(expectSuccess(dry)).toEqual({
      id: 1,
      version: 2,
      changes: { amount: { from: 1000000, to: 2800000 }, confidencePct: { from: null, to: "A" }, stage: { from: "negotiation", to: "won" } },
    });
    expect(expectSuccess(real)).toBe(1);
    expect(real.headers.get("etag")).toBe('"2"');
    expect(dry.headers.get("etag")).toBeNull();
  });

  test("update that changes nothing: empty changes at the current version", async () => {
    const { dry } = await dryThenReal(UPDATE, { opportunityCode: "D-1", amount: 1000000 });
    expect(expectSuccess(dry)).toEqual({ id: 1, version: 1, changes: {} });
  });

  test("create: the id it would be given, version 1, every value it sets; the real create gets that id", async () => {
    const { dry, real } = await dryThenReal(CREATE, { opportunityCode: "D-2", opportunityName: "试运行", endCustomerName: "某局", salesExpansionId: "9007199254740993" });
    expect(dry.text).toContain('"salesExpansionId":{"from":null,"to":9007199254740993}');
    expect(expectSuccess(dry)).toEqual({
      id: 2,
      version: 1,
      changes: {
        endCustomerName: { from: null, to: "某局" },
        opportunityName: { from: null, to: "试运行" },
        salesExpansionId: { from: null, to: 9007199254740993 },
        archived: { from: null, to: false },
        pushedToOms: { from: null, to: false },
        status: { from: null, to: "active" },
      },
    });
    expect(expectSuccess(real)).toBe(2);
  });

  test.each([
    ["update", UPDATE, { opportunityCode: "NO-SUCH", amount: 1 }, "商机不存在"],
    ["update", UPDATE, { opportunityCode: "D-1", confidencePct: "D" }, "项目把握度仅支持A、B、C"],
    ["update", UPDATE, { opportunityCode: "D-1" }, "至少传入一个需要更新的字段"],
    ["create", CREATE, { opportunityCode: "D-1", opportunityName: "重", endCustomerName: "某局" }, "商机编号已存在: D-1"],
    ["batch-update", BATCH, { items: [] }, "items 不能为空"],
  ] as const)("%s refused with %#: the real call's refusal, data null", async (_name, route, body, msg) => {
    const { dry } = await dryThenReal(route, body);
    expectFailure(dry, 200, msg);
  });

  test("update with a stale If-Match: the real call's conflict", async () => {
    await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "D-1", amount: 5 } });
    const { dry } = await dryThenReal(UPDATE, { opportunityCode: "D-1", amount: 6 }, { headers: { "if-match": '"1"' } });
    expectFailure(dry, 200, "商机已被修改，当前版本为 2");
  });

  test("batch-update: each item's success data is {id, version, changes}, decided in order; the real batch answers the ids", async () => {
    await createOpportunity(service, { opportunityCode: "D-3" });
    const body = { items: [{ opportunityCode: "D-1", amount: 1 }, { opportunityCode: "NO-SUCH", amount: 1 }, { opportunityCode: "D-1", amount: 2 }, { opportunityCode: "D-3", status: "won" }] };
    const { dry, real } = await dryThenReal(BATCH, body);
    expect(expectSuccess(dry)).toEqual({
      succeeded: 3,
      failed: 1,
      results: [
        { index: 0, opportunityCode: "D-1", code: "0", msg: "success", data: { id: 1, version: 2, changes: { amount: { from: 1000000, to: 1 } } } },
        { index: 1, opportunityCode: "NO-SUCH", code: "-1", msg: "商机不存在", data: null },
        { index: 2, opportunityCode: "D-1", code: "0", msg: "success", data: { id: 1, version: 3, changes: { amount: { from: 1, to: 2 } } } },
        { index: 3, opportunityCode: "D-3", code: "0", msg: "success", data: { id: 2, version: 2, changes: { status: { from: "active", to: "won" } } } },
      ],
    });
    const dryResults = (dry.json.data as { results: { code: string; msg: string }[] }).results;
    const realResults = (real.json.data as { results: { code: string; msg: string }[] }).results;
    expect(realResults.map(({ code, msg }) => ({ code, msg }))).toEqual(dryResults.map(({ code, msg }) => ({ code, msg })));
    expect(await service.tables.count("events")).toBe(2 + 3);
  });

  test("batch-update with allOrNone and a failure: the same -1 and results, 未执行 included", async () => {
    const body = { allOrNone: true, items: [{ opportunityCode: "D-1", amount: 1 }, { opportunityCode: "NO-SUCH", amount: 1 }] };
    const { dry, real } = await dryThenReal(BATCH, body);
    expect(dry.text).toBe(real.text);
    expect(dry.json.msg).toBe("第 2 条: 商机不存在");
  });

  test("dryRun=false is refused like any value but true (a real call leaves it out), and nothing is written", async () => {
    const before = await service.tables.count("events");
    const answer = await send(UPDATE, "?dryRun=false", { opportunityCode: "D-1", amount: 7 });
    expect(answer.json).toEqual({ code: "-1", msg: 'dryRun 只能是 true（试运行：只校验并计算结果，不写入）；不需要时不传，收到: "false"', data: null });
    expect(await service.tables.count("events")).toBe(before);
  });
});

describe("a dry run takes no idempotency key", () => {
  test.each([UPDATE, CREATE, BATCH])("$name: the key is still free afterwards, for another body too", async (route) => {
    const bodies: Record<string, [unknown, unknown]> = {
      update: [{ opportunityCode: "D-1", amount: 11 }, { opportunityCode: "D-1", amount: 12 }],
      "batch-update": [{ items: [{ opportunityCode: "D-1", amount: 11 }] }, { items: [{ opportunityCode: "D-1", amount: 12 }] }],
      create: [
        { opportunityCode: "D-9", opportunityName: "一", endCustomerName: "某局" },
        { opportunityCode: "D-9", opportunityName: "二", endCustomerName: "某局" },
      ],
    };
    const [tried, meant] = bodies[route.name]!;
    const headers = { "idempotency-key": `dry-key-${route.name}` };
    const before = await stored();
    expectSuccess(await send(route, "?dryRun=true", tried, { headers }));
    expect(await stored()).toEqual(before);
    const real = await send(route, "", meant, { headers });
    expectSuccess(real);
    expect(real.headers.get("idempotent-replayed")).toBeNull();
    expect(await service.tables.count("idempotency_keys")).toBe(1);
  });

  test("nor the in-flight claim: a dry run beside the real call with the same key refuses neither", async () => {
    const headers = { "idempotency-key": "dry-beside" };
    const answers = await Promise.all([
      send(UPDATE, "", { opportunityCode: "D-1", amount: 21 }, { headers }),
      send(UPDATE, "?dryRun=true", { opportunityCode: "D-1", amount: 21 }, { headers }),
      send(UPDATE, "?dryRun=true", { opportunityCode: "D-1", amount: 21 }, { headers }),
    ]);
    for (const answer of answers) expect(answer.json.msg).toBe("success");
    expect(await service.tables.count("events")).toBe(2);
  });

  test("a key already used: the dry run answers as its real retry would (replayed, or refused for another body)", async () => {
    const headers = { "idempotency-key": "used-key" };
    expectSuccess(await send(UPDATE, "", { opportunityCode: "D-1", amount: 31 }, { headers }));
    const { dry } = await dryThenReal(UPDATE, { opportunityCode: "D-1", amount: 31 }, { headers });
    expect(expectSuccess(dry)).toEqual({ id: 1, version: 2, changes: {} });
    expect(dry.headers.get("idempotent-replayed")).toBe("true");
    const other = await dryThenReal(UPDATE, { opportunityCode: "D-1", amount: 32 }, { headers });
    expectFailure(other.dry, 200, "Idempotency-Key 已用于另一个内容不同的请求，本次未做任何修改");
  });
});

describe("query parameters on the write routes", () => {
  test.each([
    ["update", UPDATE, { opportunityCode: "D-1", amount: 41 }],
    ["create", CREATE, { opportunityCode: "D-4", opportunityName: "四", endCustomerName: "某局" }],
    ["batch-update", BATCH, { items: [{ opportunityCode: "D-1", amount: 41 }] }],
  ] as const)("%s: an unknown one, a bad dryRun value or a repeated one is refused (-1) and nothing is written", async (_name, route, body) => {
    const before = await stored();
    const refused: [string, string][] = [
      ["?dry_run=true", "不支持的查询参数: dry_run，支持: dryRun"],
      ["?dryRun=true&force=1", "不支持的查询参数: force，支持: dryRun"],
      ["?dryRun=1", 'dryRun 只能是 true（试运行：只校验并计算结果，不写入）；不需要时不传，收到: "1"'],
      ["?dryRun=TRUE", 'dryRun 只能是 true（试运行：只校验并计算结果，不写入）；不需要时不传，收到: "TRUE"'],
      ["?dryRun", 'dryRun 只能是 true（试运行：只校验并计算结果，不写入）；不需要时不传，收到: ""'],
      ["?dryRun=true&dryRun=false", "查询参数只能传一次: dryRun"],
    ];
    for (const [query, msg] of refused) {
      const answer = await send(route, query, body);
      expectFailure(answer, 200, msg);
      expect(answer.headers.get("x-dry-run")).toBeNull();
    }
    expect(await stored()).toEqual(before);
  });

  test("reported with the body's own errors, all at once", async () => {
    const answer = await send(UPDATE, "?verbose=1", { opportunityCode: "D-1", confidencePct: "D" });
    expectFailure(answer, 200, "项目把握度仅支持A、B、C；不支持的查询参数: verbose，支持: dryRun");
  });
});
