import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FIELD_RULES } from "../../src/field-rules";
import { startBackendService, type BackendService } from "../support/test-service";
import { CONTRACT_FIELDS, UPDATE_PATH, call, createOpportunity, expectFailure, readRecord, reasonsOf, snapshot } from "./http-client";

// Business failures of the update: HTTP 200, code "-1", a Chinese message, and nothing stored.
let service: BackendService;
const CODE = "OPP-BAD-001";

beforeAll(async () => {
  service = await startBackendService();
  await createOpportunity(service, { opportunityCode: CODE, stage: "solution", amount: 1000, description: "原备注" });
});
afterAll(() => service.dispose());

/** Exact message, or the parts a message of our own must hold (field name, bad value). */
type Expected = { exact: string } | { contains: string[] };

interface Case {
  name: string;
  body: unknown;
  expected: Expected;
}

const withCode = (fields: Record<string, unknown>) => ({ opportunityCode: CODE, ...fields });
const exact = (msg: string): Expected => ({ exact: msg });
const contains = (...parts: string[]): Expected => ({ contains: parts });
const allNull = Object.fromEntries(CONTRACT_FIELDS.filter((name) => name !== "opportunityCode").map((name) => [name, null]));
const chars = (count: number) => "商".repeat(count);

const cases: Case[] = [
  // The contract's own messages, word for word.
  { name: "missing opportunityCode", body: { stage: "won" }, expected: exact("opportunityCode 不能为空") },
  { name: "blank opportunityCode", body: { opportunityCode: "  ", stage: "won" }, expected: exact("opportunityCode 不能为空") },
  { name: "empty opportunityCode", body: { opportunityCode: "", stage: "won" }, expected: exact("opportunityCode 不能为空") },
  { name: "null opportunityCode", body: { opportunityCode: null, stage: "won" }, expected: exact("opportunityCode 不能为空") },
  { name: "only the code", body: { opportunityCode: CODE }, expected: exact("至少传入一个需要更新的字段") },
  { name: "every field null except the code", body: withCode(allNull), expected: exact("至少传入一个需要更新的字段") },
  { name: "unknown code", body: { opportunityCode: "OPP-NO-SUCH", stage: "won" }, expected: exact("商机不存在") },
  { name: "confidence D", body: withCode({ confidencePct: "D" }), expected: exact("项目把握度仅支持A、B、C") },
  { name: "confidence number", body: withCode({ confidencePct: 1 }), expected: exact("项目把握度仅支持A、B、C") },
  { name: "stage not in the dictionary", body: withCode({ stage: "xxx" }), expected: exact("项目阶段无效: xxx") },
  { name: "stage 123", body: withCode({ stage: 123 }), expected: exact("项目阶段无效: 123") },

  // Fields the body may not hold.
  { name: "unknown fields are named", body: withCode({ stage: "won", foo: 1, barBaz: "x" }), expected: contains("foo", "barBaz") },
  { name: "endCustomerName", body: withCode({ endCustomerName: "新客户" }), expected: contains("最终客户", "endCustomerName") },
  { name: "endCustomerName with a valid field", body: withCode({ stage: "won", endCustomerName: "新客户" }), expected: contains("最终客户", "endCustomerName") },
  { name: "customerName", body: withCode({ customerName: "新客户" }), expected: contains("最终客户", "customerName") },
  { name: "endCustomerId", body: withCode({ endCustomerId: 5 }), expected: contains("最终客户", "endCustomerId") },
  { name: "finalCustomer", body: withCode({ finalCustomer: "新客户" }), expected: contains("最终客户", "finalCustomer") },
  { name: "end_customer_name", body: withCode({ end_customer_name: "新客户" }), expected: contains("最终客户", "end_customer_name") },

  // Wrong JSON types.
  { name: "amount \"abc\"", body: withCode({ amount: "abc" }), expected: contains("amount", '"abc"') },
  { name: "amount as a numeric string", body: withCode({ amount: "100" }), expected: contains("amount", '"100"') },
  { name: "archived \"yes\"", body: withCode({ archived: "yes" }), expected: contains("archived", '"yes"') },
  { name: "pushedToOms 1", body: withCode({ pushedToOms: 1 }), expected: contains("pushedToOms", "1") },
  { name: "opportunityName as a number", body: withCode({ opportunityName: 42 }), expected: contains("opportunityName", "42") },
  { name: "description as an object", body: withCode({ description: { text: "x" } }), expected: contains("description") },
  { name: "opportunityCode as a number", body: { opportunityCode: 123, stage: "won" }, expected: contains("opportunityCode", "123") },

  // "" for fields that must have a value.
  { name: "opportunityName \"\"", body: withCode({ opportunityName: "" }), expected: contains("opportunityName") },
  { name: "opportunityName blank", body: withCode({ opportunityName: "   " }), expected: contains("opportunityName") },
  { name: "stage \"\"", body: withCode({ stage: "" }), expected: exact("项目阶段无效: ") },
  { name: "status \"\"", body: withCode({ status: "" }), expected: contains("商机状态") },
  { name: "confidencePct \"\"", body: withCode({ confidencePct: "" }), expected: exact("项目把握度仅支持A、B、C") },
  { name: "expectedCloseDate \"\"", body: withCode({ expectedCloseDate: "" }), expected: contains("expectedCloseDate", '""') },
  { name: "omsPushTime \"\"", body: withCode({ omsPushTime: "" }), expected: contains("omsPushTime", '""') },

  // Values out of range.
  { name: "amount 0", body: withCode({ amount: 0 }), expected: contains("amount", "0") },
  { name: "amount -1", body: withCode({ amount: -1 }), expected: contains("amount", "-1") },
  { name: "amount -0.01", body: withCode({ amount: -0.01 }), expected: contains("amount", "-0.01") },
  { name: "expectedCloseDate 2026-02-30", body: withCode({ expectedCloseDate: "2026-02-30" }), expected: contains("expectedCloseDate", "2026-02-30") },
  { name: "expectedCloseDate 2026/04/30", body: withCode({ expectedCloseDate: "2026/04/30" }), expected: contains("expectedCloseDate", "2026/04/30") },
  { name: "expectedCloseDate 2026-13-01", body: withCode({ expectedCloseDate: "2026-13-01" }), expected: contains("expectedCloseDate", "2026-13-01") },
  { name: "expectedCloseDate with a time", body: withCode({ expectedCloseDate: "2026-04-30T00:00:00" }), expected: contains("expectedCloseDate") },
  { name: "omsPushTime not a time", body: withCode({ omsPushTime: "yesterday" }), expected: contains("omsPushTime", "yesterday") },
  { name: "status outside the four", body: withCode({ status: "pending" }), expected: contains("pending", "active", "closed", "won", "lost") },
  ...(["salesExpansionId", "channelExpansionId", "preSalesId"] as const).flatMap((field) => [
    { name: `${field} 0`, body: withCode({ [field]: 0 }), expected: contains(field, "0") },
    { name: `${field} -1`, body: withCode({ [field]: -1 }), expected: contains(field, "-1") },
    { name: `${field} 1.5`, body: withCode({ [field]: 1.5 }), expected: contains(field, "1.5") },
    { name: `${field} "abc"`, body: withCode({ [field]: "abc" }), expected: contains(field, '"abc"') },
  ]),

  // Strings past their length limit (counted in characters, not bytes).
  { name: "opportunityCode of 65 characters", body: { opportunityCode: "X".repeat(65), stage: "won" }, expected: contains("opportunityCode", "64") },
  ...(Object.entries(FIELD_RULES) as [string, { maxLength?: number }][])
    .filter(([, rule]) => rule.maxLength !== undefined)
    .map(([field, rule]) => ({
      name: `${field} of ${rule.maxLength! + 1} characters`,
      body: withCode({ [field]: chars(rule.maxLength! + 1) }),
      expected: contains(field, String(rule.maxLength)),
    })),

  // Bodies that are JSON but not an object.
  { name: "a JSON array", body: [withCode({ stage: "won" })], expected: exact("请求体必须是 JSON 对象") },
  { name: "JSON null", body: null, expected: exact("请求体必须是 JSON 对象") },
  { name: "a JSON string", body: "OPP-BAD-001", expected: exact("请求体必须是 JSON 对象") },
  { name: "a JSON number", body: 1, expected: exact("请求体必须是 JSON 对象") },
];

describe("PUT update: bad input is rejected with HTTP 200, code -1, and changes nothing", () => {
  test.each(cases.map((entry) => [entry.name, entry] as const))("%s", async (_name, entry) => {
    const before = await snapshot(service);
    const answer = await call(service, "PUT", UPDATE_PATH, { body: entry.body });
    expectFailure(answer, 200);
    const msg = answer.json.msg as string;
    if ("exact" in entry.expected) {
      expect(msg).toBe(entry.expected.exact);
    } else {
      for (const part of entry.expected.contains) expect(msg).toContain(part);
      // Our own messages are Chinese, like the contract's.
      expect(msg).toMatch(/[\u4e00-\u9fff]/);
    }
    expect(await snapshot(service)).toEqual(before);
  });

  test("the limits themselves are accepted (the length is counted in characters)", async () => {
    const limited = Object.entries(FIELD_RULES).filter(([, rule]) => rule.maxLength !== undefined);
    expect(limited.length).toBeGreaterThan(0);
    for (const [field, rule] of limited) {
      const answer = await call(service, "PUT", UPDATE_PATH, { body: withCode({ [field]: chars(rule.maxLength!) }) });
      expect({ field, code: answer.json.code, msg: answer.json.msg }).toEqual({ field, code: "0", msg: "success" });
    }
    const record = await readRecord(service, CODE);
    for (const [field, rule] of limited) expect(record[field]).toBe(chars(rule.maxLength!));
  });
});

describe("several wrong fields are all reported in one message joined with ；", () => {
  test("three bad values", async () => {
    const before = await snapshot(service);
    const answer = await call(service, "PUT", UPDATE_PATH, { body: withCode({ confidencePct: "D", stage: "xxx", amount: 0 }) });
    expectFailure(answer, 200);
    const reasons = reasonsOf(answer.json.msg);
    expect(reasons).toHaveLength(3);
    expect(reasons).toContain("项目把握度仅支持A、B、C");
    expect(reasons).toContain("项目阶段无效: xxx");
    expect(reasons.filter((reason) => reason.includes("amount"))).toHaveLength(1);
    expect(await snapshot(service)).toEqual(before);
  });

  test("missing code, end customer, unknown field and a bad value together", async () => {
    const answer = await call(service, "PUT", UPDATE_PATH, {
      body: { endCustomerName: "x", foo: 1, status: "pending", archived: "yes" },
    });
    expectFailure(answer, 200);
    const reasons = reasonsOf(answer.json.msg);
    expect(reasons).toHaveLength(5);
    expect(reasons).toContain("opportunityCode 不能为空");
    expect(reasons.some((reason) => reason.includes("最终客户") && reason.includes("endCustomerName"))).toBe(true);
    expect(reasons.some((reason) => reason.includes("foo") && !reason.includes("endCustomerName"))).toBe(true);
    expect(reasons.some((reason) => reason.includes("pending"))).toBe(true);
    expect(reasons.some((reason) => reason.includes("archived") && reason.includes('"yes"'))).toBe(true);
  });

  test("no reason appears twice", async () => {
    const answer = await call(service, "PUT", UPDATE_PATH, { body: { stage: "xxx" } });
    const reasons = reasonsOf(answer.json.msg);
    expect(reasons).toEqual([...new Set(reasons)]);
    expect(reasons.sort()).toEqual(["opportunityCode 不能为空", "项目阶段无效: xxx"].sort());
  });
});
