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

/** The objects of an array member of a body (a batch update's items), whose number texts are found together. */
class ItemSources {
  constructor(
    readonly body: object,
    readonly arrayKey: string,
    readonly text: string,
  ) {}
}

// The text each request body (or import line) was parsed from, until a message needs a number as it was sent;
// then the numbers' texts, found once per body. Weak: kept only as long as the body itself.
const bodySources = new WeakMap<object, string | Map<string, string> | ItemSources>();

/**
 * parseExactJson for a body whose refused values are quoted back to the sender: remembers the text, so that
 * sentNumberText can give a number as written. Costs one map entry: the text is read again only for a message.
 */
export function parseExactJsonBody(text: string): unknown {
  const value = parseExactJson(text);
  if (typeof value === "object" && value !== null) bodySources.set(value, text);
  return value;
}

/**
 * The text a number member of a body from parseExactJsonBody was written with (`9007199254740993.5`, `1.50`,
 * `1e400`), where the parsed value reads 9007199254740994, 1.5 and Infinity; undefined when the member is not
 * a number (a string, an object, an array) or the body was parsed otherwise. A duplicate key gives the last
 * text, as parsing keeps the last value.
 */
export function sentNumberText(body: object, key: string): string | undefined {
  let sources = bodySources.get(body);
  if (sources === undefined) return undefined;
  if (sources instanceof ItemSources) {
    resolveItemSources(sources);
    sources = bodySources.get(body);
    if (!(sources instanceof Map)) return undefined;
  } else if (typeof sources === "string") {
    sources = topLevelNumberTexts(sources);
    bodySources.set(body, sources);
  }
  return sources.get(key);
}

/**
 * Lets sentNumberText quote the numbers of each object in the array member `arrayKey` of a body from
 * parseExactJsonBody (a batch update's items), as it does the body's own members. Costs one map entry per
 * item: the text is read again, once for all the items, only when a message needs a number as it was sent.
 */
export function rememberItemSources(body: object, arrayKey: string): void {
  const text = bodySources.get(body);
  const items = (body as Record<string, unknown>)[arrayKey];
  if (typeof text !== "string" || !Array.isArray(items)) return;
  const sources = new ItemSources(body, arrayKey, text);
  for (const item of items) if (typeof item === "object" && item !== null && !Array.isArray(item)) bodySources.set(item, sources);
}

function resolveItemSources(sources: ItemSources): void {
  const items = (sources.body as Record<string, unknown>)[sources.arrayKey] as unknown[];
  const parsed = JSON.parse(sources.text, keepNumberTexts as never) as Record<string, unknown>;
  const texts = parsed[sources.arrayKey] as unknown[];
  items.forEach((item, index) => {
    if (typeof item === "object" && item !== null) bodySources.set(item, numberMembers(texts[index]));
  });
}

/** A number's text as written, put in its place by the reviver so that it stays with its key. */
class SentNumber {
  constructor(readonly text: string) {}
}

/** Each top-level member's number text, from the reviver's source access (as in exactIntegers). */
function keepNumberTexts(_key: string, value: unknown, context?: { source?: string }): unknown {
  return typeof value === "number" && context?.source !== undefined ? new SentNumber(context.source) : value;
}

/** The number texts of an object's own members, as keepNumberTexts left them. */
function numberMembers(parsed: unknown): Map<string, string> {
  const texts = new Map<string, string>();
  if (typeof parsed !== "object" || parsed === null) return texts;
  for (const [key, value] of Object.entries(parsed)) if (value instanceof SentNumber) texts.set(key, value.text);
  return texts;
}

function topLevelNumberTexts(text: string): Map<string, string> {
  return numberMembers(JSON.parse(text, keepNumberTexts as never));
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
