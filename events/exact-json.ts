/**
 * JSON that keeps 64-bit integers exact. Java clients send snowflake IDs beyond 2^53, which plain
 * `JSON.parse` silently rounds. An integer that is not a safe double becomes a bigint read from its source
 * text; every other number stays a number, so each value has one in-memory form.
 */

// Only text with a run of 16+ digits can hold an unsafe integer; the reviver is slow, so skip it otherwise.
const LONG_DIGITS = /\d{16}/;
const INTEGER_SOURCE = /^-?\d+$/;

function exactIntegers(this: unknown, _key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === "number" && !Number.isSafeInteger(value) && Number.isInteger(value)) {
    const source = context?.source;
    if (source !== undefined && INTEGER_SOURCE.test(source)) return BigInt(source);
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
  return JSON.stringify(value, rawBigints);
}

/** One in-memory form per integer: a number when it is a safe integer, a bigint otherwise. */
export function normalizeInteger(value: number | bigint): number | bigint {
  if (typeof value === "bigint" && value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)) {
    return Number(value);
  }
  return value;
}
