import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBackendService, type BackendService } from "../support/test-service";
import { CONTRACT_FIELDS, JSON_UTF8, call, createOpportunity, expectFailure, readPath, readRecord, update } from "./http-client";

let service: BackendService;

beforeAll(async () => {
  service = await startBackendService({ now: () => new Date("2026-04-01T08:00:00.123Z") });
});
afterAll(() => service.dispose());

describe("GET /api/opportunities/{opportunityCode}", () => {
  test("answers the record with every contract field, id, version, endCustomerName, createdAt and updatedAt", async () => {
    const id = await createOpportunity(service, {
      opportunityCode: "OPP-READ-001",
      opportunityName: "读取测试",
      endCustomerName: "某省电力公司",
      amount: 123.45,
      stage: "bidding",
    });
    const answer = await call(service, "GET", readPath("OPP-READ-001"));
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe(JSON_UTF8);
    expect(answer.json.code).toBe("0");
    expect(answer.json.msg).toBe("success");
    const record = answer.json.data as Record<string, unknown>;
    expect(Object.keys(record).sort()).toEqual(
      [...CONTRACT_FIELDS, "id", "version", "endCustomerName", "createdAt", "updatedAt"].sort(),
    );
    expect(record).toEqual({
      id,
      opportunityCode: "OPP-READ-001",
      endCustomerName: "某省电力公司",
      opportunityName: "读取测试",
      projectLocation: null,
      operatorName: null,
      amount: 123.45,
      expectedCloseDate: null,
      confidencePct: null,
      stage: "bidding",
      opportunityType: null,
      productType: null,
      source: null,
      salesExpansionId: null,
      channelExpansionId: null,
      preSalesId: null,
      preSalesName: null,
      competitorName: null,
      archived: false,
      pushedToOms: false,
      omsPushTime: null,
      status: "active",
      description: null,
      version: 1,
      createdAt: "2026-04-01T08:00:00.123Z",
      updatedAt: "2026-04-01T08:00:00.123Z",
    });
  });

  test("version and updatedAt follow an update", async () => {
    await createOpportunity(service, { opportunityCode: "OPP-READ-002" });
    await update(service, { opportunityCode: "OPP-READ-002", archived: true });
    const record = await readRecord(service, "OPP-READ-002");
    expect(record).toMatchObject({ archived: true, version: 2 });
  });

  test("an unknown code answers 200 with the contract's failure envelope", async () => {
    const answer = await call(service, "GET", readPath("OPP-NO-SUCH"));
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe(JSON_UTF8);
    expect(answer.text).toBe('{"code":"-1","msg":"商机不存在","data":null}');
  });

  // No write accepts U+0000 in a code, and PostgreSQL text cannot hold it: such a code is simply not found, on
  // every read of one opportunity, rather than a database error (a 500 on PostgreSQL once).
  test.each(["/api/opportunities/%00", "/api/opportunities/OPP%00X/history", "/api/opportunities/%00?version=1", "/api/opportunities/%00?asOf=2026-01-01"])(
    "a code holding U+0000 is not found: %s",
    async (path) => {
      const answer = await call(service, "GET", path);
      expect({ status: answer.status, text: answer.text }).toEqual({ status: 200, text: '{"code":"-1","msg":"商机不存在","data":null}' });
    },
  );

  test.each([
    ["Chinese code", "商机-华东-001"],
    ["code with a space", "OPP 2026 001"],
    ["code with reserved characters", "OPP#1?x=1&y"],
  ])("a URL-encoded %s is found", async (_label, code) => {
    const id = await createOpportunity(service, { opportunityCode: code });
    const answer = await call(service, "GET", `/api/opportunities/${encodeURIComponent(code)}`);
    expect(answer.json).toMatchObject({ code: "0", msg: "success", data: { id, opportunityCode: code } });
  });

  test("needs the secret", async () => {
    expectFailure(await call(service, "GET", readPath("OPP-READ-001"), { secret: null }), 401, "内部接口鉴权失败");
    expectFailure(await call(service, "GET", readPath("OPP-READ-001"), { secret: "wrong-secret-0123456789" }), 401, "内部接口鉴权失败");
  });
});
