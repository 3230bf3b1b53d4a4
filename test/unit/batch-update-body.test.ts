import { describe, expect, test } from "bun:test";
import { parseExactJsonBody } from "../../events/exact-json";
import { parseBatchUpdateBody } from "../../src/batch-update-body";
import { ERROR_SEPARATOR, NOT_AN_OBJECT, parseUpdateBody, type UpdateOpportunity } from "../../src/commands";
import { CONTRACT_EXAMPLE } from "../support/contract";
import { SHANGHAI_CONTEXT } from "./field-context";

// The batch body: the whole of it is refused when it is not an object with a non-empty `items` array of at most
// the configured length; otherwise each item is exactly an update body, checked by the update route's rules.

const parse = (body: unknown, maxItems = 200) => parseBatchUpdateBody(body, SHANGHAI_CONTEXT, maxItems);

function errorsOf(body: unknown, maxItems?: number): string[] {
  const result = parse(body, maxItems);
  if (result.ok) throw new Error("expected the whole body to be refused");
  return result.errors;
}

describe("the whole body refused", () => {
  test.each([
    ["an array", [CONTRACT_EXAMPLE], [NOT_AN_OBJECT]],
    ["null", null, [NOT_AN_OBJECT]],
    ["a string", "items", [NOT_AN_OBJECT]],
    ["no items", { allOrNone: true }, ["items 不能为空"]],
    ["items null", { items: null }, ["items 不能为空"]],
    ["items empty", { items: [] }, ["items 不能为空"]],
    ["items an object", { items: { opportunityCode: "A" } }, ['items 必须是数组，收到: {"opportunityCode":"A"}']],
    ["allOrNone a string", { items: [CONTRACT_EXAMPLE], allOrNone: "true" }, ['allOrNone 只能是 true 或 false，收到: "true"']],
    ["an unknown field, and items empty", { items: [], dryRun: true }, ["不支持的字段: dryRun", "items 不能为空"]],
  ])("%s", (_label, body, errors) => {
    expect(errorsOf(body)).toEqual(errors);
  });

  test("more items than allowed: 批量更新最多 N 条，本次 M 条", () => {
    expect(errorsOf({ items: Array.from({ length: 201 }, () => CONTRACT_EXAMPLE) })).toEqual(["批量更新最多 200 条，本次 201 条"]);
    expect(errorsOf({ items: [CONTRACT_EXAMPLE, CONTRACT_EXAMPLE, CONTRACT_EXAMPLE] }, 2)).toEqual(["批量更新最多 2 条，本次 3 条"]);
    expect(parse({ items: [CONTRACT_EXAMPLE, CONTRACT_EXAMPLE] }, 2).ok).toBe(true);
  });

  test("null members mean not sent: allOrNone null is false, another member null is no error", () => {
    expect(parse({ items: [CONTRACT_EXAMPLE], allOrNone: null, comment: null })).toMatchObject({ ok: true, command: { allOrNone: false } });
  });
});

describe("each item is an update body", () => {
  test("valid items become the update route's commands, in order; allOrNone is kept", () => {
    const items = [CONTRACT_EXAMPLE, { opportunityCode: " OPP-2 ", stage: "赢单" }];
    const result = parse({ items, allOrNone: true });
    expect(result).toEqual({
      ok: true,
      command: { allOrNone: true, items: items.map((item) => ({ command: (parseUpdateBody(item, SHANGHAI_CONTEXT) as { command: UpdateOpportunity }).command })) },
    });
  });

  test("an invalid item carries the update route's own message and its code; the batch goes on", () => {
    const bad = [{ opportunityCode: "OPP-1" }, { opportunityCode: " OPP-2 ", confidencePct: "D", amount: 0 }, { stage: "won" }, "not an object", { opportunityCode: 7, amount: 1 }];
    const result = parse({ items: [CONTRACT_EXAMPLE, ...bad] });
    if (!result.ok) throw new Error("the batch should be accepted");
    const expected = bad.map((item) => (parseUpdateBody(item, SHANGHAI_CONTEXT) as { errors: string[] }).errors.join(ERROR_SEPARATOR));
    expect(result.command.items.slice(1)).toEqual([
      { invalid: expected[0]!, opportunityCode: "OPP-1" },
      { invalid: expected[1]!, opportunityCode: "OPP-2" },
      { invalid: expected[2]!, opportunityCode: null },
      { invalid: NOT_AN_OBJECT, opportunityCode: null },
      { invalid: expected[4]!, opportunityCode: null },
    ]);
    expect(expected[0]).toBe("至少传入一个需要更新的字段");
  });

  test("a refused number in an item is quoted as it was sent, as the update route quotes its body's", () => {
    const body = parseExactJsonBody('{"items":[{"opportunityCode":"A","amount":1},{"opportunityCode":"B","amount":-1.50,"preSalesId":9007199254740993.5}]}');
    const single = parseUpdateBody(parseExactJsonBody('{"opportunityCode":"B","amount":-1.50,"preSalesId":9007199254740993.5}'), SHANGHAI_CONTEXT);
    const result = parse(body);
    if (!result.ok || single.ok) throw new Error("the batch is accepted, the item refused");
    expect(result.command.items[1]).toEqual({ invalid: single.errors.join(ERROR_SEPARATOR), opportunityCode: "B" });
    expect(single.errors.join(ERROR_SEPARATOR)).toContain("收到: -1.50");
    expect(single.errors.join(ERROR_SEPARATOR)).toContain("收到: 9007199254740993.5");
  });
});
