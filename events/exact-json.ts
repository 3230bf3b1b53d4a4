/**
 * JSON that keeps 64-bit integers exact. Java clients send snowflake IDs beyond 2^53, which plain
 * `JSON.parse` silently rounds. An integer that is not a safe double becomes a bigint read from its source
 * text; every other number stays a number, so each value has one in-memory form.
 */

// Only text with a run of 16+ digits can hold an unsafe integer; the reviver is slow, so skip it otherwise.
const LONG_DIGITS = /\d{16}/;
const NUMBER_SOURCE = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * The exact integer a JSON number literal denotes ("9007199254740993", "9007199254740993.0", "1.2e17"), or
 * null when it is not a whole number. Decimal arithmetic on the text, so nothing is rounded on the way.
 */
export function exactIntegerOf(source: string): bigint | null {
  const match = NUMBER_SOURCE.exec(source);
  if (!match) return null;
  const [, sign, whole, fraction = "", exponentText = "0"] = match;
  const exponent = Number(exponentText) - fraction.length;
  let digits = `${whole}${fraction}`;
  // Far beyond any 64-bit ID or amount: no need to build the number to reject it.
  if (exponent > 400) return null;
  if (exponent >= 0) digits += "0".repeat(exponent);
  else {
    const cut = digits.length + exponent;
    if (!/^0*$/.test(digits.slice(Math.max(0, cut)))) return null;
    digits = cut > 0 ? digits.slice(0, cut) : "0";
  }
  return BigInt(`${sign}${digits}`);
}

function exactIntegers(this: unknown, _key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === "number" && !Number.isSafeInteger(value) && Number.isInteger(value)) {
    const source = context?.source;
    const exact = source === undefined ? null : exactIntegerOf(source);
    if (exact !== null) return exact;
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
