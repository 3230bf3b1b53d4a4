import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { normalizeInteger, parseExactJson, parseExactJsonBody, sentNumberText, stringifyExactJson } from "../../events/exact-json";

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

  // Only a plain integer literal says which integer beyond 2^53 it is meant to be: a fraction or an exponent
  // ("9007199254740993.0", "1.5e17") is a double like any other, so an ID rule can refuse it.
  test.each(["1.5e17", "1.5E17", "9007199254740993.0", "9007199254740993e0", "9007199254740993.5", "1e19"])(
    "%s is the same double alone, beside a long digit run, or beside a 64-bit integer",
    (literal) => {
      const alone = (parseExactJson(`{"id":${literal}}`) as { id: unknown }).id;
      expect(typeof alone).toBe("number");
      for (const text of [`{"id":${literal},"code":"1234567890123456"}`, `{"other":9223372036854775807,"id":${literal}}`]) {
        expect((parseExactJson(text) as { id: unknown }).id).toBe(alone);
      }
    },
  );

  test("each number's value does not depend on the rest of the text", () => {
    const literals = fc.oneof(
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((value) => JSON.stringify(value)),
      fc.tuple(fc.bigInt({ min: 1n, max: 2n ** 64n }), fc.constantFrom(".0", "e0", ".5", "e1", "E-1")).map(([digits, tail]) => `${digits}${tail}`),
      fc.tuple(fc.integer({ min: 1, max: 9 }), fc.nat(99_999), fc.integer({ min: 0, max: 25 })).map(([lead, fraction, exponent]) => `${lead}.${fraction}e${exponent}`),
    );
    const neighbours = fc.constantFrom('"x"', '"1234567890123456"', "9007199254740993", "1.5e17", "12345678901234567.25", "1");
    fc.assert(
      fc.property(literals, neighbours, fc.boolean(), (literal, neighbour, before) => {
        const alone = (parseExactJson(`{"id":${literal}}`) as { id: unknown }).id;
        const text = before ? `{"n":${neighbour},"id":${literal}}` : `{"id":${literal},"n":${neighbour}}`;
        const beside = (parseExactJson(text) as { id: unknown }).id;
        expect(typeof beside).toBe(typeof alone);
        expect(beside).toBe(alone as never);
      }),
      { numRuns: 2000 },
    );
  });

  test("1e20 is a number, not a bigint", () => {
    const parsed = parseExactJson('{"amount":1e20}') as { amount: unknown };
    expect(typeof parsed.amount).toBe("number");
  });

  test.each(["{", "", "{'a':1}", "[1,]", '{"id":90071992547409931'])("throws a SyntaxError on invalid JSON %p", (text) => {
    expect(() => parseExactJson(text)).toThrow(SyntaxError);
  });
});

describe("sentNumberText: a body's number as written, for messages", () => {
  const text = '{"id":9007199254740993.5,"amount":-1.50,"big":1e400,"exact":9007199254740993,"name":"1.0","nested":{"n":2.0},"list":[3.0],"dup":1,"dup":2.00}';
  const body = parseExactJsonBody(text) as Record<string, unknown>;

  test("the value is parsed as parseExactJson parses it", () => {
    expect(body).toEqual(parseExactJson(text) as Record<string, unknown>);
    expect(body.id).toBe(9007199254740994);
    expect(body.big).toBe(Number.POSITIVE_INFINITY);
  });

  test.each<[string, string | undefined]>([
    ["id", "9007199254740993.5"],
    ["amount", "-1.50"],
    ["big", "1e400"],
    ["dup", "2.00"],
    ["exact", "9007199254740993"],
    // Strings and nested values are not numbers of the body itself.
    ["name", undefined],
    ["nested", undefined],
    ["list", undefined],
    ["missing", undefined],
  ])("%s", (key, expected) => {
    expect(sentNumberText(body, key)).toBe(expected);
  });

  test("the same answer when asked again (the texts are found once per body)", () => {
    expect(sentNumberText(body, "amount")).toBe("-1.50");
    expect(sentNumberText(body, "id")).toBe("9007199254740993.5");
  });

  test("a body parsed otherwise, or another object, has no texts", () => {
    expect(sentNumberText(parseExactJson(text) as object, "id")).toBeUndefined();
    expect(sentNumberText({ id: 1 }, "id")).toBeUndefined();
  });

  test("a body that is not an object parses as before", () => {
    expect(parseExactJsonBody("1.50")).toBe(1.5);
    expect(parseExactJsonBody("null")).toBeNull();
    expect(parseExactJsonBody("[1.0]")).toEqual([1]);
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
