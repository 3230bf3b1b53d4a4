import { describe, expect, test } from "bun:test";
import { canonicalJson } from "../../events/canonical-json";

describe("canonicalJson", () => {
  test.each<[string, unknown, string]>([
    ["string", "商机 \"A\"\n", '"商机 \\"A\\"\\n"'],
    ["integer", 42, "42"],
    ["negative float", -1.5, "-1.5"],
    ["large number", 1e21, "1e+21"],
    ["bigint beyond 2^53", 9007199254740993n, "9007199254740993"],
    ["int64 max bigint", 9223372036854775807n, "9223372036854775807"],
    ["true", true, "true"],
    ["false", false, "false"],
    ["null", null, "null"],
    ["empty object", {}, "{}"],
    ["empty array", [], "[]"],
    ["array keeps its order", [3, 1, 2], "[3,1,2]"],
    ["top-level keys sorted", { b: 1, a: 2, c: 3 }, '{"a":2,"b":1,"c":3}'],
    ["nested keys sorted at every depth", { z: { y: 1, x: [{ d: 1, c: 2 }] }, a: null }, '{"a":null,"z":{"x":[{"c":2,"d":1}],"y":1}}'],
    ["keys sorted by code unit (upper case before lower case)", { b: 1, B: 2, a: 3 }, '{"B":2,"a":3,"b":1}'],
    ["undefined property skipped", { a: 1, b: undefined, c: 2 }, '{"a":1,"c":2}'],
    ["bigint inside an object", { id: 9223372036854775807n }, '{"id":9223372036854775807}'],
  ])("%s", (_name, value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  test("the same content in a different key order gives the same text", () => {
    const one = { stage: "won", amount: 2800000, nested: { b: 2, a: 1 } };
    const two = { nested: { a: 1, b: 2 }, amount: 2800000, stage: "won" };
    expect(canonicalJson(one)).toBe(canonicalJson(two));
  });

  test.each<[string, unknown]>([
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["-Infinity", Number.NEGATIVE_INFINITY],
    ["NaN nested in an object", { a: { b: Number.NaN } }],
    ["Infinity nested in an array", [1, Number.POSITIVE_INFINITY]],
  ])("throws on a non-finite number: %s", (_name, value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
  });

  test.each<[string, unknown]>([
    ["function", () => 1],
    ["symbol", Symbol("s")],
    ["top-level undefined", undefined],
  ])("throws on a value JSON cannot hold: %s", (_name, value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
  });
});
