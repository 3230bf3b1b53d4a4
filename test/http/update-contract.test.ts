import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { OTHER_CLIENT_SECRET, TEST_SECRET, startBackendService, type BackendService } from "../support/test-service";
import {
  CONTRACT_EXAMPLE,
  JSON_UTF8,
  UPDATE_PATH,
  call,
  createOpportunity,
  expectSuccess,
  readRecord,
  snapshot,
  streamOf,
  update,
} from "./http-client";

// The contract's example, sent to an opportunity created beforehand with other values.
let service: BackendService;
let id: number;

beforeAll(async () => {
  service = await startBackendService();
  // Another opportunity first, so the example's id is not trivially 1.
  await createOpportunity(service, { opportunityCode: "OPP-OTHER-000" });
  id = await createOpportunity(service, {
    opportunityCode: CONTRACT_EXAMPLE.opportunityCode,
    opportunityName: "某市政务云扩容项目",
    stage: "solution",
    confidencePct: "A", // already what the example sends: must not appear among the changes
    amount: 1500000,
    expectedCloseDate: "2026-06-30",
  });
});

afterAll(() => service.dispose());

describe("PUT /api/opportunities/integration/update with the contract example", () => {
  test("answers HTTP 200, the UTF-8 JSON content type and exactly the success envelope with the id", async () => {
    expect(id).toBe(2);
    const answer = await update(service, CONTRACT_EXAMPLE);
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe(JSON_UTF8);
    expect(answer.text).toBe(`{"code":"0","msg":"success","data":${id}}`);
    expect(answer.json).toEqual({ code: "0", msg: "success", data: id });
    expect(typeof answer.json.code).toBe("string");
  });

  test("appended one OpportunityUpdated event holding only the changed fields and their old values", async () => {
    const events = await streamOf(service, CONTRACT_EXAMPLE.opportunityCode);
    expect(events.map((event) => [event.version, event.type])).toEqual([
      [1, "OpportunityCreated"],
      [2, "OpportunityUpdated"],
    ]);
    expect(events[1]!.data).toEqual({
      changes: { stage: "won", status: "won", amount: 2800000, expectedCloseDate: "2026-04-30", description: "外部系统回写成交结果" },
      previous: { stage: "solution", status: "active", amount: 1500000, expectedCloseDate: "2026-06-30", description: null },
    });
  });

  test("records the client name behind the secret as actor, never the secret", async () => {
    const [, updated] = await streamOf(service, CONTRACT_EXAMPLE.opportunityCode);
    expect(updated!.metadata.actor).toBe("oms");
    const rows = await service.tables.select<{ data: string; metadata: string }>("SELECT data, metadata FROM events");
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.metadata).not.toContain(TEST_SECRET);
      expect(row.data).not.toContain(TEST_SECRET);
    }
  });

  test("GET shows the new values and version 2", async () => {
    const record = await readRecord(service, CONTRACT_EXAMPLE.opportunityCode);
    expect(record).toMatchObject({
      id,
      opportunityCode: "OPP-20260401-001",
      opportunityName: "某市政务云扩容项目",
      stage: "won",
      status: "won",
      confidencePct: "A",
      amount: 2800000,
      expectedCloseDate: "2026-04-30",
      description: "外部系统回写成交结果",
      version: 2,
    });
  });

  test("the same body again succeeds with the same id and appends no event", async () => {
    const before = await snapshot(service);
    const answer = await update(service, CONTRACT_EXAMPLE);
    expect(answer.text).toBe(`{"code":"0","msg":"success","data":${id}}`);
    expect(await snapshot(service)).toEqual(before);
    expect(await streamOf(service, CONTRACT_EXAMPLE.opportunityCode)).toHaveLength(2);
  });

  test("a second client's secret records its own name as actor", async () => {
    const answer = await update(service, { opportunityCode: CONTRACT_EXAMPLE.opportunityCode, competitorName: "某竞品" }, { secret: OTHER_CLIENT_SECRET });
    expect(expectSuccess(answer)).toBe(id);
    const events = await streamOf(service, CONTRACT_EXAMPLE.opportunityCode);
    expect(events).toHaveLength(3);
    expect(events[2]!.metadata.actor).toBe("bidding");
    expect(events[2]!.data).toEqual({ changes: { competitorName: "某竞品" }, previous: { competitorName: null } });
    const [last] = await service.tables.select<{ metadata: string }>("SELECT metadata FROM events ORDER BY position DESC LIMIT 1");
    expect(last!.metadata).not.toContain(OTHER_CLIENT_SECRET);
  });

  test("a code with surrounding spaces finds the same opportunity", async () => {
    const answer = await update(service, { opportunityCode: `  ${CONTRACT_EXAMPLE.opportunityCode}  `, source: "OMS" });
    expect(expectSuccess(answer)).toBe(id);
    expect((await readRecord(service, CONTRACT_EXAMPLE.opportunityCode)).source).toBe("OMS");
  });

  test("the curl example's Content-Type with a charset is accepted too", async () => {
    const answer = await call(service, "PUT", UPDATE_PATH, {
      body: { opportunityCode: CONTRACT_EXAMPLE.opportunityCode, operatorName: "运作方甲" },
      contentType: "application/json; charset=UTF-8",
    });
    expect(expectSuccess(answer)).toBe(id);
  });
});
