import { describe, expect, test } from "bun:test";
import type { FieldValue, OpportunityField } from "../../events/opportunity-events";
import { OPPORTUNITY_FIELD_NAMES } from "../../events/opportunity-events";
import { FIELD_RULES, MAX_AMOUNT, parseFieldValue, quote, type RuleKind } from "../../src/field-rules";
import { SHANGHAI_CONTEXT } from "./field-context";
import { CONTRACT_FIELD_KINDS } from "../support/contract";

const parse = (name: OpportunityField, raw: unknown) => parseFieldValue(name, raw, SHANGHAI_CONTEXT);

describe("FIELD_RULES", () => {
  // The contract's table: which kind of value each field takes.
  const expectedKinds: Record<OpportunityField, RuleKind> = CONTRACT_FIELD_KINDS;

  test("covers exactly the contract's twenty optional fields", () => {
    expect([...OPPORTUNITY_FIELD_NAMES].sort() as string[]).toEqual(Object.keys(expectedKinds).sort());
  });

  test.each(Object.entries(expectedKinds))("%s has rule kind %s", (name, kind) => {
    expect(FIELD_RULES[name as OpportunityField].kind).toBe(kind);
  });

  test("MAX_AMOUNT is 1e13", () => {
    expect(MAX_AMOUNT).toBe(1e13);
  });
});

describe("parseFieldValue accepts", () => {
  test.each<[OpportunityField, unknown, FieldValue]>([
    // text: trimmed; "" clears an optional text field
    ["opportunityName", "  智慧园区项目  ", "智慧园区项目"],
    ["projectLocation", "上海", "上海"],
    ["projectLocation", "", null],
    ["operatorName", "   ", null],
    ["competitorName", "", null],
    ["preSalesName", "", null],
    ["description", "", null],
    ["opportunityType", "", null],
    ["productType", "", null],
    ["source", "", null],
    ["description", "\t外部系统回写成交结果\n", "外部系统回写成交结果"],
    // amount
    ["amount", 2800000, 2800000],
    ["amount", 0.01, 0.01],
    ["amount", 1e13, 1e13],
    // ids: numbers, digit strings and bigints, kept exact
    ["salesExpansionId", 1, 1],
    ["channelExpansionId", "42", 42],
    ["preSalesId", " 7 ", 7],
    ["preSalesId", 9007199254740993n, 9007199254740993n],
    ["salesExpansionId", "9007199254740993", 9007199254740993n],
    ["salesExpansionId", "9223372036854775807", 9223372036854775807n],
    ["channelExpansionId", 9223372036854775807n, 9223372036854775807n],
    ["preSalesId", 123n, 123],
    // booleans
    ["archived", true, true],
    ["pushedToOms", false, false],
    // date
    ["expectedCloseDate", "2026-04-30", "2026-04-30"],
    ["expectedCloseDate", " 2028-02-29 ", "2028-02-29"],
    // date-time, answered as ISO 8601 in the zone
    ["omsPushTime", "2026-04-30 10:20:30", "2026-04-30T10:20:30+08:00"],
    ["omsPushTime", "2026-04-30T02:20:30Z", "2026-04-30T10:20:30+08:00"],
    ["omsPushTime", "2026-04-30T10:20:30.500+08:00", "2026-04-30T10:20:30.500+08:00"],
    ["omsPushTime", 1777515630000, "2026-04-30T10:20:30+08:00"],
    ["omsPushTime", "1777515630000", "2026-04-30T10:20:30+08:00"],
    // confidence: upper-cased
    ["confidencePct", "A", "A"],
    ["confidencePct", "a", "A"],
    ["confidencePct", " b ", "B"],
    ["confidencePct", "c", "C"],
    // stage: a code or a Chinese label, stored as its code
    ["stage", "won", "won"],
    ["stage", "lost", "lost"],
    ["stage", "赢单", "won"],
    ["stage", " 招投标 ", "bidding"],
    ["stage", " negotiation ", "negotiation"],
    // status: case-insensitive
    ["status", "active", "active"],
    ["status", "closed", "closed"],
    ["status", "WON", "won"],
    ["status", " Lost ", "lost"],
  ])("%s = %p gives %p", (name, raw, expected) => {
    const result = parse(name, raw);
    expect(result).toEqual({ ok: true, value: expected });
    if (result.ok) expect(typeof result.value).toBe(typeof expected);
  });
});

describe("parseFieldValue rejects with the contract's exact message", () => {
  test.each<[OpportunityField, unknown, string]>([
    ["confidencePct", "D", "项目把握度仅支持A、B、C"],
    ["confidencePct", "AB", "项目把握度仅支持A、B、C"],
    ["confidencePct", "", "项目把握度仅支持A、B、C"],
    ["confidencePct", 1, "项目把握度仅支持A、B、C"],
    ["confidencePct", "优", "项目把握度仅支持A、B、C"],
    ["stage", "xxx", "项目阶段无效: xxx"],
    ["stage", "WON", "项目阶段无效: WON"],
    ["stage", "closing soon", "项目阶段无效: closing soon"],
    ["stage", "", "项目阶段无效: "],
    ["stage", 3, "项目阶段无效: 3"],
    ["opportunityName", "", "opportunityName 不能为空"],
    ["opportunityName", "   ", "opportunityName 不能为空"],
  ])("%s = %p -> %p", (name, raw, message) => {
    expect(parse(name, raw)).toEqual({ ok: false, error: message });
  });
});

describe("parseFieldValue rejects, naming the field and quoting the value", () => {
  test.each<[OpportunityField, unknown, string[]]>([
    // wrong JSON types
    ["opportunityName", 123, ["opportunityName", "123"]],
    ["description", true, ["description", "true"]],
    ["projectLocation", ["上海"], ["projectLocation", '["上海"]']],
    ["amount", "2800000", ["amount", '"2800000"']],
    ["amount", true, ["amount", "true"]],
    ["archived", "true", ["archived", '"true"']],
    ["pushedToOms", 1, ["pushedToOms", "1"]],
    ["expectedCloseDate", 20260430, ["expectedCloseDate", "20260430"]],
    ["omsPushTime", true, ["omsPushTime", "true"]],
    ["status", 1, ["1"]],
    // amount must be > 0 and at most MAX_AMOUNT
    ["amount", 0, ["amount", "0"]],
    ["amount", -1, ["amount", "-1"]],
    ["amount", -0.01, ["amount", "-0.01"]],
    ["amount", 1e13 + 1, ["amount", "10000000000001"]],
    ["amount", 12345678901234567890n, ["amount", "12345678901234567890"]],
    // ids must be positive integers within int64
    ["salesExpansionId", 0, ["salesExpansionId", "0"]],
    ["channelExpansionId", -5, ["channelExpansionId", "-5"]],
    ["preSalesId", 1.5, ["preSalesId", "1.5"]],
    ["preSalesId", "1.5", ["preSalesId", '"1.5"']],
    ["preSalesId", "abc", ["preSalesId", '"abc"']],
    ["preSalesId", "", ["preSalesId", '""']],
    ["preSalesId", "-3", ["preSalesId", '"-3"']],
    ["preSalesId", true, ["preSalesId", "true"]],
    ["salesExpansionId", 9223372036854775808n, ["salesExpansionId", "9223372036854775808"]],
    ["salesExpansionId", "9223372036854775808", ["salesExpansionId", "9223372036854775808"]],
    ["salesExpansionId", 1e19, ["salesExpansionId"]],
    // expectedCloseDate must be a real YYYY-MM-DD date
    ["expectedCloseDate", "2026-02-30", ["expectedCloseDate", '"2026-02-30"']],
    ["expectedCloseDate", "2026-02-29", ["expectedCloseDate", '"2026-02-29"']],
    ["expectedCloseDate", "2026/04/30", ["expectedCloseDate", '"2026/04/30"']],
    ["expectedCloseDate", "2026-4-30", ["expectedCloseDate", '"2026-4-30"']],
    ["expectedCloseDate", "2026-04-30T00:00:00", ["expectedCloseDate"]],
    ["expectedCloseDate", "", ["expectedCloseDate", '""']],
    // omsPushTime must be one of the accepted forms
    ["omsPushTime", "", ["omsPushTime", '""']],
    ["omsPushTime", "yesterday", ["omsPushTime", '"yesterday"']],
    ["omsPushTime", "2026-02-30 10:00:00", ["omsPushTime", "2026-02-30 10:00:00"]],
    ["omsPushTime", "2026-04-30 25:00:00", ["omsPushTime", "2026-04-30 25:00:00"]],
    ["omsPushTime", 1777515630, ["omsPushTime", "1777515630"]],
    // status outside the four values, or blank
    ["status", "pending", ["pending", "active"]],
    ["status", "", ["active"]],
  ])("%s = %p", (name, raw, fragments) => {
    const result = parse(name, raw);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    for (const fragment of fragments) expect(result.error).toContain(fragment);
  });

  test.each<[OpportunityField, unknown]>([
    ["omsPushTime", "1900-01-01 00:00:00"],
    ["omsPushTime", "0000-01-01T00:00:00Z"],
    ["omsPushTime", "1969-12-31T23:59:59+08:00"],
    ["omsPushTime", "9999-12-31T23:59:59-05:00"],
    ["expectedCloseDate", "1969-12-31"],
    ["expectedCloseDate", "0000-01-01"],
    ["expectedCloseDate", "0202-04-30"],
  ])("%s = %p is outside the supported range, and the message says so", (name, raw) => {
    expect(parse(name, raw)).toEqual({ ok: false, error: `${name} 超出支持的范围（1970-01-01 至 9999-12-31）: ${JSON.stringify(raw)}` });
  });

  test.each<[OpportunityField, unknown, FieldValue]>([
    ["omsPushTime", "1970-01-01 00:00:00", "1970-01-01T00:00:00+08:00"],
    ["omsPushTime", "9999-12-31 23:59:59.999", "9999-12-31T23:59:59.999+08:00"],
    ["expectedCloseDate", "1970-01-01", "1970-01-01"],
    ["expectedCloseDate", "9999-12-31", "9999-12-31"],
  ])("%s = %p at the edge of the range is accepted as %p", (name, raw, expected) => {
    expect(parse(name, raw)).toEqual({ ok: true, value: expected });
  });

  test("status error names the allowed values", () => {
    const result = parse("status", "pending");
    expect(result).toEqual({ ok: false, error: "商机状态无效: pending，仅支持 active、closed、won、lost" });
  });
});

describe("parseFieldValue maximum lengths (code points, after trimming)", () => {
  test.each<[OpportunityField, number]>([
    ["opportunityName", 200],
    ["projectLocation", 200],
    ["operatorName", 100],
    ["opportunityType", 50],
    ["productType", 50],
    ["source", 50],
    ["preSalesName", 50],
    ["competitorName", 200],
    ["description", 2000],
  ])("%s accepts %d characters and rejects one more", (name, max) => {
    expect(parse(name, "商".repeat(max))).toEqual({ ok: true, value: "商".repeat(max) });
    expect(parse(name, ` ${"x".repeat(max)} `)).toEqual({ ok: true, value: "x".repeat(max) });
    const tooLong = parse(name, "商".repeat(max + 1));
    expect(tooLong.ok).toBe(false);
    if (!tooLong.ok) {
      expect(tooLong.error).toContain(name);
      expect(tooLong.error).toContain(String(max));
    }
  });

  test("an emoji counts as one character, not two UTF-16 units", () => {
    expect(parse("preSalesName", "😀".repeat(50))).toEqual({ ok: true, value: "😀".repeat(50) });
    expect(parse("preSalesName", "😀".repeat(51)).ok).toBe(false);
  });
});

describe("quote", () => {
  test.each<[string, unknown, string]>([
    ["string as JSON", "abc", '"abc"'],
    ["number", 12, "12"],
    ["bigint as its digits", 9223372036854775808n, "9223372036854775808"],
    ["null", null, "null"],
    ["object as JSON", { a: 1 }, '{"a":1}'],
    ["long text cut to 60 characters", "x".repeat(100), `"${"x".repeat(56)}...`],
  ])("%s", (_name, value, expected) => {
    expect(quote(value)).toBe(expected);
  });
});

describe("quote, on what a hostile body can hold", () => {
  test.each<[string, unknown, string]>([
    ["an object with a bigint inside", { "": -9007199254740993n }, '{"":-9007199254740993}'],
    ["an object whose toString is not a function", { toString: false }, '{"toString":false}'],
    ["both (found by the property tests: it answered 500)", { "": -9007199254740992n, toString: false }, '{"":-9007199254740992,"toString":false}'],
    ["an array with a bigint", [1n], "[1]"],
  ])("%s", (_name, value, expected) => {
    expect(quote(value)).toBe(expected);
  });
});
