/**
 * JSON that keeps 64-bit integers exact. Java clients send snowflake IDs beyond 2^53, which plain
 * `JSON.parse` silently rounds. An integer literal that is not a safe double becomes a bigint read from its
 * source text; every other number stays a number, so each value has one in-memory form.
 */

// Only a plain integer literal becomes a bigint: it alone names one exact integer as written. "1.5e17" or
// "9007199254740993.0" stay the doubles JSON.parse makes of them (an ID rule can then refuse them). A plain
// integer beyond 2^53 has at least 16 digits, so text without such a run parses the same without the slow
// reviver: whether it runs never changes a value, and one value never depends on another.
const LONG_DIGITS = /\d{16}/;
const PLAIN_INTEGER = /^-?\d+$/;

function exactIntegers(this: unknown, _key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    const source = context?.source;
    if (source !== undefined && PLAIN_INTEGER.test(source)) return BigInt(source);
  }
  return value;
}

export function parseExactJson(text: string): unknown {
  return LONG_DIGITS.test(text) ? JSON.parse(text, exactIntegers as never) : JSON.parse(text);
}

// Bun implements JSON.rawJSON (TC39 "JSON.parse source text access"); TypeScript's lib does not know it yet.
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

function rawBigints(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? rawJSON(value.toString()) : value;
}

/** `JSON.stringify` that writes bigints as plain JSON numbers, keeping key order (for answers, not hashes). */
export function stringifyExactJson(value: unknown): string {
  // Most answers hold no bigint, and a replacer function slows every stringify: try without one first
  // (JSON.stringify throws on a bigint rather than rounding it).
  try {
    return JSON.stringify(value);
  } catch {
    return JSON.stringify(value, rawBigints);
  }
}

/** One in-memory form per integer: a number when it is a safe integer, a bigint otherwise. */
export function normalizeInteger(value: number | bigint): number | bigint {
  if (typeof value === "bigint" && value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)) {
    return Number(value);
  }
  return value;
}
