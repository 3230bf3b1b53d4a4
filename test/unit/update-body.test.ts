import { describe, expect, test } from "bun:test";
import type { FieldValues } from "../../events/opportunity-events";
import { ERROR_SEPARATOR, NOT_AN_OBJECT, parseUpdateBody } from "../../src/commands";
import { CONTRACT_EXAMPLE } from "../support/contract";
import { SHANGHAI_CONTEXT } from "./field-context";

const CODE = "OPP-20260401-001";
const parse = (body: unknown) => parseUpdateBody(body, SHANGHAI_CONTEXT);

/** The errors of a rejected body; fails the test when the body was accepted. */
function errorsOf(body: unknown): string[] {
  const result = parse(body);
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.command, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))}`);
  return result.errors;
}

/** The checked fields of an accepted body; fails the test when the body was rejected. */
function fieldsOf(body: unknown): FieldValues {
  const result = parse(body);
  if (!result.ok) throw new Error(`expected success, got ${result.errors.join(ERROR_SEPARATOR)}`);
  return result.command.fields;
}

describe("parseUpdateBody: the contract's example", () => {
  test("is accepted as an UpdateOpportunity command with exactly the sent fields", () => {
    const { opportunityCode, ...fields } = CONTRACT_EXAMPLE;
    expect(parse({ ...CONTRACT_EXAMPLE })).toEqual({ ok: true, command: { type: "UpdateOpportunity", opportunityCode, fields } });
  });
});

describe("parseUpdateBody: opportunityCode", () => {
  test.each<[string, unknown]>([
    ["missing", { stage: "won" }],
    ["null", { opportunityCode: null, stage: "won" }],
    ["empty", { opportunityCode: "", stage: "won" }],
    ["blank", { opportunityCode: "   ", stage: "won" }],
  ])("%s -> exactly 'opportunityCode 不能为空'", (_name, body) => {
    expect(errorsOf(body)).toEqual(["opportunityCode 不能为空"]);
  });

  test("is trimmed", () => {
    const result = parse({ opportunityCode: `  ${CODE}\t`, stage: "won" });
    expect(result.ok && result.command.opportunityCode).toBe(CODE);
  });

  test("a number is rejected naming the field", () => {
    const errors = errorsOf({ opportunityCode: 123, stage: "won" });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("opportunityCode");
    expect(errors[0]).toContain("123");
  });

  test("longer than 64 characters is rejected", () => {
    const errors = errorsOf({ opportunityCode: "O".repeat(65), stage: "won" });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("opportunityCode");
    expect(errors[0]).toContain("64");
    expect(fieldsOf({ opportunityCode: "O".repeat(64), stage: "won" })).toEqual({ stage: "won" });
  });
});

describe("parseUpdateBody: at least one field", () => {
  test.each<[string, unknown]>([
    ["only the code", { opportunityCode: CODE }],
    ["every field null (Java clients serialise unset fields as null)", {
      opportunityCode: CODE,
      opportunityName: null,
      amount: null,
      stage: null,
      status: null,
      salesExpansionId: null,
      archived: null,
      omsPushTime: null,
      description: null,
    }],
  ])("%s -> exactly '至少传入一个需要更新的字段'", (_name, body) => {
    expect(errorsOf(body)).toEqual(["至少传入一个需要更新的字段"]);
  });

  test("an empty object reports both the code and the missing fields", () => {
    expect(errorsOf({})).toEqual(["opportunityCode 不能为空", "至少传入一个需要更新的字段"]);
  });

  test("null fields are left out of the command, sent fields kept", () => {
    expect(fieldsOf({ opportunityCode: CODE, stage: null, amount: 10, description: null })).toEqual({ amount: 10 });
  });

  test("a field cleared with \"\" counts as sent", () => {
    expect(fieldsOf({ opportunityCode: CODE, description: "" })).toEqual({ description: null });
  });
});

describe("parseUpdateBody: fields that are not in the contract", () => {
  test.each<[string, Record<string, unknown>, string[]]>([
    ["one unknown field", { stage: "won", foo: 1 }, ["不支持的字段: foo"]],
    ["several unknown fields", { stage: "won", foo: 1, bar: "x" }, ["不支持的字段: foo、bar"]],
    ["case matters: OpportunityName is not opportunityName", { OpportunityName: "x", stage: "won" }, ["不支持的字段: OpportunityName"]],
    ["endCustomerName", { stage: "won", endCustomerName: "某某集团" }, ["不支持更新商机的最终客户: endCustomerName"]],
    ["endCustomerId", { stage: "won", endCustomerId: 5 }, ["不支持更新商机的最终客户: endCustomerId"]],
    ["customerName", { stage: "won", customerName: "某某集团" }, ["不支持更新商机的最终客户: customerName"]],
    ["finalCustomer", { stage: "won", finalCustomer: "某某集团" }, ["不支持更新商机的最终客户: finalCustomer"]],
    [
      "end-customer and unknown fields together",
      { stage: "won", endCustomerName: "x", customerName: "y", foo: 1 },
      ["不支持更新商机的最终客户: endCustomerName、customerName", "不支持的字段: foo"],
    ],
  ])("%s", (_name, extra, expected) => {
    expect(errorsOf({ opportunityCode: CODE, ...extra })).toEqual(expected);
  });

  test("null-valued extra fields are 'not sent', as a Java DTO carrying them unset sends them", () => {
    expect(fieldsOf({ opportunityCode: CODE, stage: "won", endCustomerName: null, customerId: null, foo: null })).toEqual({ stage: "won" });
    expect(errorsOf({ opportunityCode: CODE, endCustomerName: null })).toEqual(["至少传入一个需要更新的字段"]);
  });

  test("an end-customer field alone is refused, not answered 'no field'", () => {
    const errors = errorsOf({ opportunityCode: CODE, endCustomerName: "某某集团" });
    expect(errors[0]).toBe("不支持更新商机的最终客户: endCustomerName");
  });
});

describe("parseUpdateBody: one wrong field at a time", () => {
  test.each<[string, Record<string, unknown>, string]>([
    ["opportunityName \"\"", { opportunityName: "" }, "opportunityName 不能为空"],
    ["opportunityName blank", { opportunityName: "   " }, "opportunityName 不能为空"],
    ["confidencePct D", { confidencePct: "D" }, "项目把握度仅支持A、B、C"],
    ["stage not in dictionary", { stage: "xxx" }, "项目阶段无效: xxx"],
    ["stage raw value kept in the message", { stage: " Won-Deal " }, "项目阶段无效:  Won-Deal "],
  ])("%s -> exact contract message", (_name, extra, message) => {
    expect(errorsOf({ opportunityCode: CODE, ...extra })).toEqual([message]);
  });

  test.each<[string, Record<string, unknown>, string]>([
    ["amount 0", { amount: 0 }, "amount"],
    ["amount negative", { amount: -100 }, "amount"],
    ["amount string", { amount: "100" }, "amount"],
    ["amount above MAX_AMOUNT", { amount: 1e14 }, "amount"],
    ["expectedCloseDate 2026-02-30", { expectedCloseDate: "2026-02-30" }, "expectedCloseDate"],
    ["expectedCloseDate 2026/04/30", { expectedCloseDate: "2026/04/30" }, "expectedCloseDate"],
    ["salesExpansionId 0", { salesExpansionId: 0 }, "salesExpansionId"],
    ["channelExpansionId negative", { channelExpansionId: -1 }, "channelExpansionId"],
    ["preSalesId 1.5", { preSalesId: 1.5 }, "preSalesId"],
    ["preSalesId beyond 2^63-1", { preSalesId: 9223372036854775808n }, "preSalesId"],
    ["archived string", { archived: "false" }, "archived"],
    ["pushedToOms number", { pushedToOms: 0 }, "pushedToOms"],
    ["omsPushTime epoch seconds", { omsPushTime: 1777515630 }, "omsPushTime"],
    ["status outside the four", { status: "open" }, "open"],
    ["status empty", { status: "" }, "商机状态无效"],
    ["description too long", { description: "x".repeat(2001) }, "description"],
    ["opportunityName array", { opportunityName: ["a"] }, "opportunityName"],
  ])("%s -> one error naming the field or value", (_name, extra, fragment) => {
    const errors = errorsOf({ opportunityCode: CODE, ...extra });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(fragment);
  });
});

describe("parseUpdateBody: accepted values", () => {
  test.each<[string, Record<string, unknown>, FieldValues]>([
    ["text trimmed", { opportunityName: "  智慧园区  ", projectLocation: " 上海 " }, { opportunityName: "智慧园区", projectLocation: "上海" }],
    ["\"\" clears optional text fields", { projectLocation: "", operatorName: "", competitorName: "", preSalesName: "", description: "", opportunityType: "", productType: "", source: "" }, {
      projectLocation: null, operatorName: null, competitorName: null, preSalesName: null, description: null, opportunityType: null, productType: null, source: null,
    }],
    ["confidencePct lower case stored upper case", { confidencePct: "a" }, { confidencePct: "A" }],
    ["stage Chinese label stored as code", { stage: "商务谈判" }, { stage: "negotiation" }],
    ["status case-insensitive", { status: "Closed" }, { status: "closed" }],
    ["IDs as digit strings", { salesExpansionId: "12", preSalesId: "9007199254740993" }, { salesExpansionId: 12, preSalesId: 9007199254740993n }],
    ["IDs as bigints kept exact", { channelExpansionId: 9223372036854775807n }, { channelExpansionId: 9223372036854775807n }],
    ["booleans", { archived: false, pushedToOms: true }, { archived: false, pushedToOms: true }],
    ["omsPushTime Java format", { omsPushTime: "2026-04-30 10:20:30" }, { omsPushTime: "2026-04-30T10:20:30+08:00" }],
    ["omsPushTime epoch ms", { omsPushTime: 1777515630000 }, { omsPushTime: "2026-04-30T10:20:30+08:00" }],
  ])("%s", (_name, extra, expected) => {
    expect(fieldsOf({ opportunityCode: CODE, ...extra })).toEqual(expected);
  });
});

describe("parseUpdateBody: several wrong fields", () => {
  test("every wrong field is reported, each in its own entry", () => {
    const errors = errorsOf({
      opportunityCode: CODE,
      amount: -1,
      confidencePct: "D",
      stage: "xxx",
      expectedCloseDate: "2026-02-30",
      status: "open",
      description: "ok",
    });
    expect(errors).toHaveLength(5);
    expect(errors).toContain("项目把握度仅支持A、B、C");
    expect(errors).toContain("项目阶段无效: xxx");
    expect(errors.some((e) => e.startsWith("amount"))).toBe(true);
    expect(errors.some((e) => e.startsWith("expectedCloseDate"))).toBe(true);
    expect(errors.some((e) => e.includes("open"))).toBe(true);
  });

  test("a missing code, an unknown field and a wrong value are all reported", () => {
    const errors = errorsOf({ foo: 1, amount: 0, endCustomerName: "x" });
    expect(errors).toHaveLength(4);
    expect(errors[0]).toBe("opportunityCode 不能为空");
    expect(errors).toContain("不支持更新商机的最终客户: endCustomerName");
    expect(errors).toContain("不支持的字段: foo");
    expect(errors.some((e) => e.startsWith("amount"))).toBe(true);
  });

  test("the separator for joining messages is the full-width semicolon", () => {
    expect(ERROR_SEPARATOR).toBe("；");
  });
});

describe("parseUpdateBody: bodies that are not objects", () => {
  test.each<[string, unknown]>([
    ["null", null],
    ["array", [{ opportunityCode: CODE, stage: "won" }]],
    ["string", "opportunityCode=OPP"],
    ["number", 1],
  ])("%s", (_name, body) => {
    expect(errorsOf(body)).toEqual([NOT_AN_OBJECT]);
  });
});
