import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, call, createOpportunity, expectFailure, expectSuccess, readPath, readRecord, snapshot, update } from "./http-client";

// Every time the service takes (omsPushTime, expectedCloseDate, ?asOf=) lies within 1970-01-01 to
// 9999-12-31 in the zone (Asia/Shanghai here): a time outside it once went into the chain as
// "1900-01-01T00:00:00+08:5.71666666666664", which is not ISO 8601 and is not accepted back.
let service: BackendService;
const CODE = "OPP-RANGE-001";
const RANGE = "（1970-01-01 至 9999-12-31）";

beforeAll(async () => {
  service = await startBackendService();
  await createOpportunity(service, { opportunityCode: CODE, omsPushTime: "2026-04-30 10:20:30", expectedCloseDate: "2026-06-30" });
});
afterAll(() => service.dispose());

describe("times outside the supported range are refused and nothing is stored", () => {
  test.each<[string, unknown]>([
    ["omsPushTime", "1900-01-01 00:00:00"],
    ["omsPushTime", "0000-01-01T00:00:00Z"],
    ["omsPushTime", "1969-12-31T23:59:59.999+08:00"],
    ["omsPushTime", "9999-12-31T23:59:59-05:00"],
    ["expectedCloseDate", "1969-12-31"],
    ["expectedCloseDate", "0001-01-01"],
  ])("update %s = %p", async (field, value) => {
    const before = await snapshot(service);
    const answer = await update(service, { opportunityCode: CODE, [field]: value });
    expectFailure(answer, 200, `${field} 超出支持的范围${RANGE}: ${JSON.stringify(value)}`);
    expect(await snapshot(service)).toEqual(before);
  });

  test("create with an omsPushTime of 1900 is refused", async () => {
    const before = await snapshot(service);
    const answer = await call(service, "POST", CREATE_PATH, {
      body: { opportunityCode: "OPP-RANGE-NEW", opportunityName: "范围", endCustomerName: "客户", omsPushTime: "1900-01-01 00:00:00" },
    });
    expectFailure(answer, 200, `omsPushTime 超出支持的范围${RANGE}: "1900-01-01 00:00:00"`);
    expect(await snapshot(service)).toEqual(before);
  });
});

describe("times at the edges of the range are stored as ISO 8601 that is accepted back unchanged", () => {
  test.each<[string, string, string]>([
    ["omsPushTime", "1970-01-01 00:00:00", "1970-01-01T00:00:00+08:00"],
    ["omsPushTime", "9999-12-31 23:59:59.999", "9999-12-31T23:59:59.999+08:00"],
    ["expectedCloseDate", "1970-01-01", "1970-01-01"],
    ["expectedCloseDate", "9999-12-31", "9999-12-31"],
  ])("%s = %p", async (field, value, stored) => {
    expectSuccess(await update(service, { opportunityCode: CODE, [field]: value }));
    const record = await readRecord(service, CODE);
    expect(record[field]).toBe(stored);
    // What the service answered is what a client sends back: the same value, so no new event.
    expectSuccess(await update(service, { opportunityCode: CODE, [field]: stored }));
    expect((await readRecord(service, CODE)).version).toBe(record.version);
  });
});

describe("?asOf= outside the range", () => {
  test.each(["1900-01-01", "1900-01-01T00:00:00+08:00", "0000-01-01T00:00:00Z", "1969-12-31", "10000-01-01"])("asOf=%s", async (asOf) => {
    const answer = await call(service, "GET", `${readPath(CODE)}?${new URLSearchParams({ asOf })}`);
    expectFailure(answer, 200);
    // A value the reader cannot read at all (a five-digit year) gets the format message instead.
    const message = String(answer.json.msg);
    expect(message).toContain("asOf");
    expect(message).toContain(JSON.stringify(asOf));
    if (!asOf.startsWith("10000")) expect(message).toBe(`asOf 超出支持的范围${RANGE}: ${JSON.stringify(asOf)}`);
  });

  test("asOf=1970-01-01 is in range: the opportunity did not exist yet", async () => {
    const answer = await call(service, "GET", `${readPath(CODE)}?asOf=1970-01-01`);
    expectFailure(answer, 200, "商机在 1970-01-01T23:59:59.999+08:00 时尚未创建");
  });
});
