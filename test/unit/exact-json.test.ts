import { describe, expect, test } from "bun:test";
import { normalizeInteger, parseExactJson, stringifyExactJson } from "../../events/exact-json";

describe("parseExactJson", () => {
  test.each<[string, string, unknown]>([
    ["2^53 + 1 stays exact as bigint", '{"id":9007199254740993}', { id: 9007199254740993n }],
    ["int64 max stays exact as bigint", '{"id":9223372036854775807}', { id: 9223372036854775807n }],
    ["negative unsafe integer as bigint", '{"id":-9007199254740993}', { id: -9007199254740993n }],
    ["2^53 itself is not a safe integer", "[9007199254740992]", [9007199254740992n]],
    ["max safe integer stays a number", '{"id":9007199254740991}', { id: 9007199254740991 }],
    ["small integer stays a number", '{"id":123}', { id: 123 }],
    ["a safe integer beside a long one stays a number", '{"a":1,"b":12345678901234567}', { a: 1, b: 12345678901234567n }],
    ["exponent form stays a number", '{"amount":1e20}', { amount: 1e20 }],
    ["long decimal fraction stays a number", '{"amount":1234567890123456.5}', { amount: 1234567890123456.5 }],
    ["a long digit run inside a string stays a string", '{"code":"12345678901234567890"}', { code: "12345678901234567890" }],
    ["nested arrays", '{"ids":[1,9223372036854775807]}', { ids: [1, 9223372036854775807n] }],
  ])("%s", (_name, text, expected) => {
    expect(parseExactJson(text)).toEqual(expected);
  });

  test("the bigint read from the source is not the rounded double", () => {
    const parsed = parseExactJson('{"id":9007199254740993}') as { id: unknown };
    expect(typeof parsed.id).toBe("bigint");
    expect(String(parsed.id)).toBe("9007199254740993");
  });

  test("1e20 is a number, not a bigint", () => {
    const parsed = parseExactJson('{"amount":1e20}') as { amount: unknown };
    expect(typeof parsed.amount).toBe("number");
  });

  test.each(["{", "", "{'a':1}", "[1,]", '{"id":90071992547409931'])("throws a SyntaxError on invalid JSON %p", (text) => {
    expect(() => parseExactJson(text)).toThrow(SyntaxError);
  });
});

describe("stringifyExactJson", () => {
  test.each<[string, unknown, string]>([
    ["bigint beyond 2^53 unrounded", { id: 9007199254740993n }, '{"id":9007199254740993}'],
    ["int64 max unrounded", { id: 9223372036854775807n }, '{"id":9223372036854775807}'],
    ["negative bigint", [-9007199254740993n], "[-9007199254740993]"],
    ["keeps key order (not canonical)", { b: 1, a: 2 }, '{"b":1,"a":2}'],
    ["plain values as JSON.stringify", { code: "0", msg: "success", data: null }, '{"code":"0","msg":"success","data":null}'],
  ])("%s", (_name, value, expected) => {
    expect(stringifyExactJson(value)).toBe(expected);
  });

  test("round-trips an envelope with a 64-bit id", () => {
    const text = '{"code":"0","msg":"success","data":9223372036854775807}';
    expect(stringifyExactJson(parseExactJson(text))).toBe(text);
  });
});

describe("normalizeInteger", () => {
  test.each<[string, number | bigint, number | bigint]>([
    ["small bigint becomes a number", 123n, 123],
    ["max safe bigint becomes a number", 9007199254740991n, 9007199254740991],
    ["min safe bigint becomes a number", -9007199254740991n, -9007199254740991],
    ["2^53 stays a bigint", 9007199254740992n, 9007199254740992n],
    ["int64 max stays a bigint", 9223372036854775807n, 9223372036854775807n],
    ["below min safe stays a bigint", -9007199254740992n, -9007199254740992n],
    ["a number stays the same number", 42, 42],
  ])("%s", (_name, input, expected) => {
    const result = normalizeInteger(input);
    expect(typeof result).toBe(typeof expected);
    expect(result).toBe(expected);
  });
});
