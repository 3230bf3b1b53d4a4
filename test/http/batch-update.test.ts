import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { SERVE_HELP } from "../../src/cli/serve";
import { BATCH_UPDATE_PATH } from "../../src/http/opportunity-routes";
import { recordCommits } from "../reliability/reliability-support";
import { verifyBackend } from "../support/test-backend";
import { AUDITOR_SECRET, createTestApp, startBackendService, type BackendService } from "../support/test-service";
import { UPDATE_PATH, call, createOpportunity, expectFailure, expectSuccess, readRecord, snapshot, streamOf, update, type Answer, type SendOptions } from "./http-client";

// PUT /api/opportunities/integration/batch-update (issue 14, item 1): items decided in order, each exactly what
// the update route would have answered, each real change its own event naming the batch; allOrNone writes
// nothing when any item fails; the key covers the batch; one unit of group commit, one transaction.

const MISMATCH = "Idempotency-Key 已用于另一个内容不同的请求，本次未做任何修改";
const FORBIDDEN = "密钥 audit-firm 为只读审计（auditor）角色，不能调用写接口";

// One instant for every write, so that a twin service given the same requests holds the same rows.
const now = () => new Date("2026-05-01T02:00:00.000Z");
let service: BackendService;
beforeEach(async () => {
  service = await startBackendService({ now });
});
afterEach(() => service.dispose());

const batch = (body: unknown, options: Omit<SendOptions, "body"> = {}) => call(service, "PUT", BATCH_UPDATE_PATH, { ...options, body });
const rawBatch = (rawBody: string, options: Omit<SendOptions, "rawBody"> = {}) => call(service, "PUT", BATCH_UPDATE_PATH, { ...options, rawBody });

interface ItemResult {
  index: number;
  opportunityCode: string | null;
  code: string;
  msg: string;
  data: unknown;
}
interface BatchData {
  succeeded: number;
  failed: number;
  results: ItemResult[];
}
const dataOf = (answer: Answer) => answer.json.data as BatchData;

/** Two opportunities, A-1 (amount 100) and A-2 (stage negotiation). */
async function twoOpportunities(target: BackendService = service): Promise<void> {
  await createOpportunity(target, { opportunityCode: "A-1", amount: 100 });
  await createOpportunity(target, { opportunityCode: "A-2", stage: "negotiation" });
}

// Items of every kind: real changes, no change, unknown code, invalid fields, no code, not an object.
const MIXED_ITEMS = [
  { opportunityCode: "A-1", amount: 200 },
  { opportunityCode: "NO-SUCH", amount: 1 },
  { opportunityCode: "A-2", confidencePct: "D", amount: 0, customerName: "x" },
  { opportunityCode: "A-1", amount: 200 },
  { stage: "won" },
  { opportunityCode: "A-2", stage: "赢单", status: "WON" },
  "A-1",
  { opportunityCode: "A-1" },
];

describe("processing a batch", () => {
  test("mixed valid and invalid items: one result per item, in order, each exactly what the update route answers for it", async () => {
    await twoOpportunities();
    const answer = await batch({ items: MIXED_ITEMS });
    expectSuccess(answer);

    // The same items sent one by one to the update route of a twin service give the same answers.
    const twin = await startBackendService({ now });
    try {
      await twoOpportunities(twin);
      const singles: Answer["json"][] = [];
      for (const item of MIXED_ITEMS) singles.push((await update(twin, item)).json);
      const data = dataOf(answer);
      expect(data.results.map(({ code, msg, data }): Answer["json"] => ({ code, msg, data }))).toEqual(singles);
      expect(await snapshot(service)).toEqual(await snapshot(twin));
    } finally {
      await twin.dispose();
    }
    expect(dataOf(answer)).toMatchObject({ succeeded: 3, failed: 5 });
    expect(dataOf(answer).results.map((result) => [result.index, result.opportunityCode, result.code])).toEqual([
      [0, "A-1", "0"],
      [1, "NO-SUCH", "-1"],
      [2, "A-2", "-1"],
      [3, "A-1", "0"],
      [4, null, "-1"],
      [5, "A-2", "0"],
      [6, null, "-1"],
      [7, "A-1", "-1"],
    ]);
    expect(dataOf(answer).results[1]!.msg).toBe("商机不存在");
    expect(await service.tables.count("events")).toBe(2 + 2);
  });

  test("the same code twice: applied one after the other, two events, the second's previous value is the first's", async () => {
    await twoOpportunities();
    const answer = await batch({ items: [{ opportunityCode: "A-1", amount: 300 }, { opportunityCode: "A-1", amount: 400, description: "第二条" }] });
    expect(dataOf(answer)).toEqual({
      succeeded: 2,
      failed: 0,
      results: [0, 1].map((index) => ({ index, opportunityCode: "A-1", code: "0", msg: "success", data: 1 })),
    });
    const events = await streamOf(service, "A-1");
    expect(events.slice(1).map((event) => [event.version, event.data])).toEqual([
      [2, { changes: { amount: 300 }, previous: { amount: 100 } }],
      [3, { changes: { amount: 400, description: "第二条" }, previous: { amount: 300, description: null } }],
    ]);
    expect(await readRecord(service, "A-1")).toMatchObject({ amount: 400, description: "第二条", version: 3 });
  });

  test("each event's metadata records the batch: its request id and the item's index; the history shows them", async () => {
    await twoOpportunities();
    const answer = await batch(
      { items: [{ opportunityCode: "A-2", stage: "won" }, { opportunityCode: "NO-SUCH", amount: 1 }, { opportunityCode: "A-1", amount: 5 }] },
      { headers: { "x-request-id": "nightly-sync-7", "idempotency-key": "sync-7" } },
    );
    expect(answer.headers.get("x-request-id")).toBe("nightly-sync-7");
    const rows = await service.tables.select<{ stream_id: string; metadata: string }>("SELECT stream_id, metadata FROM events WHERE position > 2 ORDER BY position");
    expect(rows.map((row) => [row.stream_id, JSON.parse(row.metadata)])).toEqual([
      ["A-2", { actor: "oms", batchIndex: 0, idempotencyKey: "sync-7", requestId: "nightly-sync-7" }],
      ["A-1", { actor: "oms", batchIndex: 2, idempotencyKey: "sync-7", requestId: "nightly-sync-7" }],
    ]);
    const history = expectSuccess(await call(service, "GET", "/api/opportunities/A-1/history")) as { items: Record<string, unknown>[] };
    expect(history.items.map((entry) => [entry.requestId === "nightly-sync-7", entry.batchIndex])).toEqual([
      [false, undefined],
      [true, 2],
    ]);
    expect(await verifyBackend(service)).toMatchObject({ ok: true, findings: [] });
  });

  test("a refused number in an item is quoted as sent, as the update route quotes it", async () => {
    await twoOpportunities();
    const item = '{"opportunityCode":"A-1","amount":-1.50,"preSalesId":9007199254740993.5}';
    const single = await call(service, "PUT", UPDATE_PATH, { rawBody: item });
    const answer = await rawBatch(`{"items":[${item}]}`);
    expect(dataOf(answer).results[0]!.msg).toBe(single.json.msg as string);
    expect(single.json.msg).toContain("收到: -1.50");
  });
});

describe("allOrNone", () => {
  test("a failure in the middle: nothing written, code -1 naming the first failing item, the others marked 未执行", async () => {
    await twoOpportunities();
    const before = await snapshot(service);
    const answer = await batch({
      allOrNone: true,
      items: [{ opportunityCode: "A-1", amount: 1 }, { opportunityCode: "A-2", amount: 2 }, { opportunityCode: "NO-SUCH", amount: 3 }, { opportunityCode: "A-1", amount: 0 }, { opportunityCode: "A-2", amount: 4 }],
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      code: "-1",
      msg: "第 3 条: 商机不存在",
      data: {
        succeeded: 0,
        failed: 5,
        results: [
          { index: 0, opportunityCode: "A-1", code: "-1", msg: "未执行", data: null },
          { index: 1, opportunityCode: "A-2", code: "-1", msg: "未执行", data: null },
          { index: 2, opportunityCode: "NO-SUCH", code: "-1", msg: "商机不存在", data: null },
          { index: 3, opportunityCode: "A-1", code: "-1", msg: "amount 必须大于 0，收到: 0", data: null },
          { index: 4, opportunityCode: "A-2", code: "-1", msg: "未执行", data: null },
        ],
      },
    });
    expect(await snapshot(service)).toEqual(before);
  });

  test("every item succeeding: written as a batch without it", async () => {
    await twoOpportunities();
    const answer = await batch({ allOrNone: true, items: [{ opportunityCode: "A-1", amount: 1 }, { opportunityCode: "A-2", amount: 2 }] });
    expect(expectSuccess(answer)).toMatchObject({ succeeded: 2, failed: 0 });
    expect(await service.tables.count("events")).toBe(4);
  });
});

describe("the whole batch refused: -1, data null, nothing written", () => {
  test.each([
    ["not an object", [{ opportunityCode: "A-1", amount: 1 }], "请求体必须是 JSON 对象"],
    ["no items", { allOrNone: true }, "items 不能为空"],
    ["items empty", { items: [] }, "items 不能为空"],
    ["items not an array", { items: "A-1" }, 'items 必须是数组，收到: "A-1"'],
    ["an unknown member", { items: [{ opportunityCode: "A-1", amount: 1 }], dryRun: true }, "不支持的字段: dryRun"],
    ["more than 200 items", { items: Array.from({ length: 201 }, (_, index) => ({ opportunityCode: "A-1", amount: index + 1 })) }, "批量更新最多 200 条，本次 201 条"],
  ])("%s", async (_label, body, msg) => {
    await twoOpportunities();
    const before = await snapshot(service);
    expectFailure(await batch(body), 200, msg);
    expect(await snapshot(service)).toEqual(before);
  });

  test("the limit is the batchMaxItems setting", async () => {
    await twoOpportunities();
    const small = { ...service, app: createTestApp(service, { batchMaxItems: 2 }) };
    const items = [1, 2, 3].map((amount) => ({ opportunityCode: "A-1", amount }));
    expectFailure(await call(small, "PUT", BATCH_UPDATE_PATH, { body: { items } }), 200, "批量更新最多 2 条，本次 3 条");
    expect(expectSuccess(await call(small, "PUT", BATCH_UPDATE_PATH, { body: { items: items.slice(0, 2) } }))).toMatchObject({ succeeded: 2 });
  });

  test("serve --help names the setting with its default", () => {
    expect(SERVE_HELP).toMatch(/--batch-max-items VALUE\s+most items of one batch update .*\(env BATCH_MAX_ITEMS, default 200\)/);
  });

  test("If-Match is refused: a batch has no one version", async () => {
    await twoOpportunities();
    const answer = await batch({ items: [{ opportunityCode: "A-1", amount: 1 }] }, { headers: { "if-match": '"1"' } });
    expectFailure(answer, 200, "批量更新不支持 If-Match：每条按当前版本处理，需要版本条件时请逐条调用更新接口");
    expect(await service.tables.count("events")).toBe(2);
  });

  test("the auditor's secret: 403 before the body is read, nothing written", async () => {
    await twoOpportunities();
    const before = await snapshot(service);
    expectFailure(await batch({ items: [{ opportunityCode: "A-1", amount: 1 }] }, { secret: AUDITOR_SECRET }), 403, FORBIDDEN);
    expectFailure(await call(service, "PUT", `${BATCH_UPDATE_PATH}?dryRun=true`, { body: { items: [{ opportunityCode: "A-1", amount: 1 }] }, secret: AUDITOR_SECRET }), 403, FORBIDDEN);
    expect(await snapshot(service)).toEqual(before);
  });
});

describe("Idempotency-Key covers the whole batch", () => {
  const items = [{ opportunityCode: "A-1", amount: 7 }, { opportunityCode: "NO-SUCH", amount: 1 }, { opportunityCode: "A-2", stage: "won" }];

  test("a retry with the same key and body gets the whole first answer again and writes nothing", async () => {
    await twoOpportunities();
    const first = await batch({ items }, { headers: { "idempotency-key": "batch-k1" } });
    expect(dataOf(first)).toMatchObject({ succeeded: 2, failed: 1 });
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const before = await snapshot(service);
    const retry = await rawBatch(`{ "items": ${JSON.stringify(items, null, 2)} }`, { headers: { "idempotency-key": "batch-k1" } });
    expect(retry.text).toBe(first.text);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await snapshot(service)).toEqual(before);
    expect(await verifyBackend(service)).toMatchObject({ ok: true, findings: [] });
  });

  test("an allOrNone refusal is the stored answer too: its retry is refused the same way, even once it could succeed", async () => {
    await twoOpportunities();
    const body = { allOrNone: true, items: [{ opportunityCode: "A-1", amount: 7 }, { opportunityCode: "LATER", amount: 1 }] };
    const first = await batch(body, { headers: { "idempotency-key": "batch-k2" } });
    expect(first.json.msg).toBe("第 2 条: 商机不存在");
    await createOpportunity(service, { opportunityCode: "LATER" });
    const retry = await batch(body, { headers: { "idempotency-key": "batch-k2" } });
    expect(retry.text).toBe(first.text);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await streamOf(service, "A-1")).toHaveLength(1);
  });

  test("the same key with another body, or first used on the update route, is refused and writes nothing", async () => {
    await twoOpportunities();
    expectSuccess(await batch({ items }, { headers: { "idempotency-key": "batch-k3" } }));
    expectSuccess(await update(service, { opportunityCode: "A-1", amount: 8 }, { headers: { "idempotency-key": "single-k" } }));
    const before = await snapshot(service);
    expectFailure(await batch({ items: items.slice(0, 2) }, { headers: { "idempotency-key": "batch-k3" } }), 200, MISMATCH);
    expectFailure(await batch({ items: [{ opportunityCode: "A-1", amount: 8 }] }, { headers: { "idempotency-key": "single-k" } }), 200, MISMATCH);
    expectFailure(await update(service, items[0], { headers: { "idempotency-key": "batch-k3" } }), 200, MISMATCH);
    expect(await snapshot(service)).toEqual(before);
  });
});

describe("group commit", () => {
  test("concurrent batches and single updates: one unit each, the event count equals the changes answered, each batch's events together", async () => {
    const codes = Array.from({ length: 8 }, (_, index) => `GC-${index}`);
    for (const code of codes) await createOpportunity(service, { opportunityCode: code });
    const commits = recordCommits(service.writer);
    const before = await service.tables.count("events");
    let amount = 0;
    // Every item that succeeds changes its amount (each value is new), so each success is one event.
    const batchBody = (index: number) => ({
      allOrNone: index % 5 === 4,
      items: Array.from({ length: 6 }, (_, item) => ({ opportunityCode: index % 5 === 4 && item === 3 ? "NO-SUCH" : codes[(index + item) % codes.length], amount: ++amount })),
    });
    const sent = Array.from({ length: 20 }, (_, index) => batch(batchBody(index), { headers: { "x-request-id": `gc-batch-${index}` } }));
    const singles = codes.map((code) => update(service, { opportunityCode: code, amount: ++amount }));
    const answers = await Promise.all(sent);
    for (const single of await Promise.all(singles)) expectSuccess(single);

    const changes = answers.reduce((sum, answer) => sum + dataOf(answer).succeeded, 0) + singles.length;
    // Four batches were stopped by allOrNone; the other sixteen fail only where they name NO-SUCH (none do).
    expect(answers.map((answer) => answer.json.code)).toEqual(Array.from({ length: 20 }, (_, index) => (index % 5 === 4 ? "-1" : "0")));
    expect(changes).toBe(16 * 6 + singles.length);
    expect((await service.tables.count("events")) - before).toBe(changes);
    expect(commits.flat()).toHaveLength(changes);
    expect(commits.length).toBeLessThan(sent.length + singles.length);

    // Each batch's events are one run of positions, in item order, as one unit of its commit.
    const rows = await service.tables.select<{ position: bigint; metadata: string }>("SELECT position, metadata FROM events WHERE position > ? ORDER BY position", [before]);
    const byBatch = new Map<string, { position: number; batchIndex: number }[]>();
    for (const row of rows) {
      const metadata = JSON.parse(row.metadata) as { requestId: string; batchIndex?: number };
      if (metadata.batchIndex === undefined) continue;
      byBatch.set(metadata.requestId, [...(byBatch.get(metadata.requestId) ?? []), { position: Number(row.position), batchIndex: metadata.batchIndex }]);
    }
    expect(byBatch.size).toBe(16);
    for (const events of byBatch.values()) {
      expect(events.map((event) => event.batchIndex)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(events.map((event) => event.position - events[0]!.position)).toEqual([0, 1, 2, 3, 4, 5]);
    }
    expect(await verifyBackend(service)).toMatchObject({ ok: true, findings: [] });
  });
});
