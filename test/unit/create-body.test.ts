import { describe, expect, test } from "bun:test";
import { NOT_AN_OBJECT, parseCreateBody } from "../../src/commands";
import { SHANGHAI_CONTEXT } from "./field-context";

const parse = (body: unknown) => parseCreateBody(body, SHANGHAI_CONTEXT);
const MINIMAL = { opportunityCode: "OPP-20260401-001", opportunityName: "智慧园区项目", endCustomerName: "某某集团" };

function errorsOf(body: unknown): string[] {
  const result = parse(body);
  if (result.ok) throw new Error("expected a rejection");
  return result.errors;
}

describe("parseCreateBody", () => {
  test("the minimal body gives a CreateOpportunity command", () => {
    expect(parse(MINIMAL)).toEqual({
      ok: true,
      command: {
        type: "CreateOpportunity",
        opportunityCode: "OPP-20260401-001",
        endCustomerName: "某某集团",
        fields: { opportunityName: "智慧园区项目" },
      },
    });
  });

  test("code, name and end customer are trimmed", () => {
    const result = parse({ opportunityCode: " OPP-1 ", opportunityName: " 名称 ", endCustomerName: "  某某集团\t" });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.command.opportunityCode).toBe("OPP-1");
    expect(result.command.endCustomerName).toBe("某某集团");
    expect(result.command.fields).toEqual({ opportunityName: "名称" });
  });

  test("optional fields follow the update rules", () => {
    const result = parse({ ...MINIMAL, stage: "赢单", confidencePct: "b", amount: 100, description: "", salesExpansionId: "9007199254740993", status: null });
    expect(result.ok && result.command.fields).toEqual({
      opportunityName: "智慧园区项目",
      stage: "won",
      confidencePct: "B",
      amount: 100,
      description: null,
      salesExpansionId: 9007199254740993n,
    });
  });

  test.each<[string, Record<string, unknown>, string[]]>([
    ["missing code", { opportunityName: "n", endCustomerName: "c" }, ["opportunityCode 不能为空"]],
    ["blank code", { ...MINIMAL, opportunityCode: "  " }, ["opportunityCode 不能为空"]],
    ["missing name", { opportunityCode: "OPP-1", endCustomerName: "c" }, ["opportunityName 不能为空"]],
    ["null name", { ...MINIMAL, opportunityName: null }, ["opportunityName 不能为空"]],
    ["empty name (reported once)", { ...MINIMAL, opportunityName: "" }, ["opportunityName 不能为空"]],
    ["blank name (reported once)", { ...MINIMAL, opportunityName: "  " }, ["opportunityName 不能为空"]],
    ["missing end customer", { opportunityCode: "OPP-1", opportunityName: "n" }, ["endCustomerName 不能为空"]],
    ["null end customer", { ...MINIMAL, endCustomerName: null }, ["endCustomerName 不能为空"]],
    ["blank end customer", { ...MINIMAL, endCustomerName: " " }, ["endCustomerName 不能为空"]],
    ["all three missing", {}, ["opportunityCode 不能为空", "opportunityName 不能为空", "endCustomerName 不能为空"]],
    ["unknown field", { ...MINIMAL, foo: 1 }, ["不支持的字段: foo"]],
    ["other customer fields are unknown on create", { ...MINIMAL, endCustomerId: 1 }, ["不支持的字段: endCustomerId"]],
    ["stage not in dictionary", { ...MINIMAL, stage: "xxx" }, ["项目阶段无效: xxx"]],
    ["confidence D", { ...MINIMAL, confidencePct: "D" }, ["项目把握度仅支持A、B、C"]],
  ])("%s", (_name, body, expected) => {
    expect(errorsOf(body)).toEqual(expected);
  });

  test.each<[string, Record<string, unknown>, string]>([
    ["end customer not a string", { ...MINIMAL, endCustomerName: 5 }, "endCustomerName"],
    ["end customer over 200 characters", { ...MINIMAL, endCustomerName: "客".repeat(201) }, "endCustomerName"],
    ["name not a string", { ...MINIMAL, opportunityName: 5 }, "opportunityName"],
    ["amount 0", { ...MINIMAL, amount: 0 }, "amount"],
  ])("%s -> one error naming the field", (_name, body, field) => {
    const errors = errorsOf(body);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(field);
  });

  test("end customer of exactly 200 characters is accepted", () => {
    const result = parse({ ...MINIMAL, endCustomerName: "客".repeat(200) });
    expect(result.ok && result.command.endCustomerName).toBe("客".repeat(200));
  });

  test.each<[string, unknown]>([
    ["null", null],
    ["array", [MINIMAL]],
    ["string", "x"],
  ])("a body that is not an object (%s)", (_name, body) => {
    expect(errorsOf(body)).toEqual([NOT_AN_OBJECT]);
  });
});
