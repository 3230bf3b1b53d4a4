/**
 * Shared pieces of the property tests: fast-check options, JSON text with exact big integers and raw number
 * literals, the envelope check every answer must pass, and arbitraries of valid field values (what a client
 * may send, paired with what the service must keep).
 */
import fc from "fast-check";
import { FIELD_RULES } from "../../src/field-rules";
import { DEFAULT_STAGES } from "../../src/stage-dictionary";
import { CONTRACT_FIELDS, JSON_UTF8 } from "../http/http-client";
import { CONTRACT_FIELD_KINDS } from "../support/contract";

/** The body limit of DESIGN.md ("Bodies have a size limit"; the default is 64 KiB). */
export const BODY_LIMIT = 64 * 1024;

/**
 * fast-check options: a bounded number of runs, and the seed from FC_SEED when given (fast-check prints the
 * seed and the path of every failure, so a failure can be replayed with FC_SEED=<seed>). Shrinking a failure
 * is cut off after `timeLimitMs` so that a failing property still ends within its test's timeout.
 */
export function fcOptions(numRuns: number, timeLimitMs = 12_000): { numRuns: number; interruptAfterTimeLimit: number; seed?: number } {
  const seed = process.env.FC_SEED;
  return { numRuns, interruptAfterTimeLimit: timeLimitMs, ...(seed ? { seed: Number(seed) } : {}) };
}

// ---------------------------------------------------------------------------------------------------------
// JSON text

/** A piece of JSON text written as is: number literals JSON.stringify cannot write (-0, 1e-320, 2^63). */
export class RawJson {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** An object body as key/value pairs, so a body can repeat a key (the last one wins in JSON.parse). */
export class JsonPairs {
  constructor(readonly pairs: readonly (readonly [string, unknown])[]) {}
}

/**
 * JSON text of a value: bigints as plain integer literals, RawJson as given, JsonPairs as an object with its
 * keys in order. Strings go through JSON.stringify, which escapes lone surrogates (`"\ud800"`) and NUL.
 */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (typeof value === "bigint") return value.toString();
  if (value instanceof JsonPairs) return `{${value.pairs.map(([key, item]) => `${JSON.stringify(key)}:${jsonText(item)}`).join(",")}}`;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    return `{${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}:${jsonText(item)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** JSON.parse that keeps integers beyond 2^53 exact (as bigints), from the number's source text. */
export function parseExact(text: string): unknown {
  const reviver = (_key: string, value: unknown, context?: { source?: string }) => {
    const source = context?.source;
    if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value) && source && /^-?\d+$/.test(source)) {
      return BigInt(source);
    }
    return value;
  };
  return JSON.parse(text, reviver as never);
}

/** Whether the Fetch API accepts this header value (it refuses NUL, inner CR/LF and non-Latin-1 text). */
export function headersAccept(name: string, value: string): boolean {
  try {
    new Headers().set(name, value);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The envelope

export interface Envelope {
  status: number;
  code: "0" | "-1";
  msg: string;
  data: unknown;
  headers: Headers;
}

/** Statuses DESIGN.md allows for answers that are not a server fault. */
export const EXPECTED_STATUSES = [200, 400, 401, 403, 404, 405, 413, 415] as const;

/** Fails with the context of the request and the answer, so a counterexample reads on its own. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/**
 * Reads an answer and checks the envelope every answer must be: JSON `{code, msg, data}` with content type
 * `application/json;charset=UTF-8`, code the string "0" or "-1", msg a string, data null on failure, never
 * HTTP 500 (nor any status DESIGN.md does not list).
 */
export async function expectEnvelope(response: Response, what: string): Promise<Envelope> {
  const text = await response.text();
  const context = `${what} -> HTTP ${response.status} ${response.headers.get("content-type")}: ${text.slice(0, 300)}`;
  check(response.status !== 500, `HTTP 500: ${context}`);
  check((EXPECTED_STATUSES as readonly number[]).includes(response.status), `unexpected status: ${context}`);
  check(response.headers.get("content-type") === JSON_UTF8, `content type is not ${JSON_UTF8}: ${context}`);
  let json: unknown;
  try {
    json = parseExact(text);
  } catch {
    throw new Error(`answer is not JSON: ${context}`);
  }
  check(typeof json === "object" && json !== null && !Array.isArray(json), `answer is not a JSON object: ${context}`);
  const record = json as Record<string, unknown>;
  check(Object.keys(record).sort().join() === "code,data,msg", `envelope keys are not code, msg, data: ${context}`);
  check(record.code === "0" || record.code === "-1", `envelope code is not "0" or "-1": ${context}`);
  check(typeof record.msg === "string" && record.msg.length > 0, `envelope msg is not a non-empty string: ${context}`);
  if (record.code === "-1") check(record.data === null, `failure with data: ${context}`);
  else check(response.status === 200 && record.msg === "success", `success that is not HTTP 200 "success": ${context}`);
  return { status: response.status, code: record.code, msg: record.msg as string, data: record.data, headers: response.headers };
}

// ---------------------------------------------------------------------------------------------------------
// Valid field values

export type FieldName = Exclude<(typeof CONTRACT_FIELDS)[number], "opportunityCode">;
export const FIELD_NAMES = CONTRACT_FIELDS.filter((name): name is FieldName => name !== "opportunityCode");

/** A value as the service keeps it: null where there is none, bigint for IDs beyond 2^53. */
export type Stored = string | number | bigint | boolean | null;

/** What a client sends for a field (a JSON value; bigints are written as integer literals) and what is kept. */
export interface Sent {
  raw: unknown;
  stored: Stored;
}

/** The kind of each field, from the contract's table and DESIGN.md's field rules. */
export const FIELD_KINDS: Record<FieldName, (typeof CONTRACT_FIELD_KINDS)[keyof typeof CONTRACT_FIELD_KINDS]> = CONTRACT_FIELD_KINDS;

/** The documented length limit of a text field (in characters, i.e. code points). */
export const maxLengthOf = (field: FieldName): number => FIELD_RULES[field].maxLength ?? 200;

/** Characters of valid text: Chinese, RTL, emoji (one and several code points), quotes, control chars (not NUL: refused, see field-rules.ts). */
const TEXT_CHARS = ["a", "Z", "0", " ", "-", "中", "商", "机", "é", "😀", "👍🏽", "\u202e", "\u200f", "ا", "ש", "\\", '"', "'", "<", "&", "\u0001", "\n", "\u0085", "\ufffd"];
const EDGE_PADS = ["", "", " ", "  ", "\t", " \t"];

/** Text with no whitespace at either end, 1 to `max` code points (sometimes exactly `max`). */
export function textCore(max: number): fc.Arbitrary<string> {
  const short = fc.array(fc.constantFrom(...TEXT_CHARS), { minLength: 1, maxLength: Math.min(12, max) }).map((chars) => chars.join(""));
  const full = fc.constantFrom("中", "😀", "a", "é").map((fill) => fill.repeat(max - 1) + "x");
  return fc.oneof({ weight: 6, arbitrary: short }, { weight: 1, arbitrary: full }).filter((text) => text !== "" && text.trim() === text && [...text].length <= max);
}

/** Text sent with spaces around it; the service keeps it trimmed. */
export function paddedText(max: number): fc.Arbitrary<Sent> {
  return fc.tuple(fc.constantFrom(...EDGE_PADS), textCore(max), fc.constantFrom(...EDGE_PADS)).map(([before, core, after]) => ({ raw: before + core + after, stored: core }));
}

const padded = (values: readonly string[], stored: (value: string) => string): fc.Arbitrary<Sent> =>
  fc.tuple(fc.constantFrom(...EDGE_PADS), fc.constantFrom(...values), fc.constantFrom(...EDGE_PADS)).map(([before, value, after]) => ({ raw: before + value + after, stored: stored(value) }));

const randomCase = (word: string): fc.Arbitrary<string> =>
  fc.array(fc.boolean(), { minLength: word.length, maxLength: word.length }).map((upper) => [...word].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(""));

const INT64_MAX = 2n ** 63n - 1n;
/** One in-memory form per integer, as DESIGN.md asks for 64-bit IDs: a number when safe, else a bigint. */
export const normalizeId = (value: bigint): number | bigint => (value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value);

const HOUR = 3_600_000;
// omsPushTime epoch milliseconds are accepted between 2000-01-01 and 2100-01-01 (DESIGN: epoch milliseconds).
const PUSH_MIN = Date.UTC(2000, 0, 1);
const PUSH_MAX = Date.UTC(2100, 0, 1) - 1;
/** Wall-clock text of an instant at a fixed offset: `yyyy-MM-ddTHH:mm:ss.SSS`. */
const wallAt = (epochMs: number, offsetHours: number) => new Date(epochMs + offsetHours * HOUR).toISOString().slice(0, 23);
/** How the service answers an instant: ISO 8601 in Asia/Shanghai (UTC+8, no DST since 1991), millis only when any. */
export function shanghaiIso(epochMs: number): string {
  const wall = wallAt(epochMs, 8);
  return `${wall.slice(0, 19)}${epochMs % 1000 === 0 ? "" : wall.slice(19, 23)}+08:00`;
}

/** Every accepted spelling of one push time, each with the ISO 8601 text the service must keep. */
const pushTime: fc.Arbitrary<Sent> = fc.tuple(fc.integer({ min: PUSH_MIN, max: PUSH_MAX }), fc.integer({ min: 0, max: 6 })).map(([ms, form]): Sent => {
  const seconds = ms - (ms % 1000);
  switch (form) {
    case 0:
      return { raw: ms, stored: shanghaiIso(ms) }; // epoch milliseconds, as Jackson writes a Date
    case 1:
      return { raw: String(ms), stored: shanghaiIso(ms) }; // the same as text
    case 2:
      return { raw: new Date(ms).toISOString(), stored: shanghaiIso(ms) }; // ISO 8601 in UTC
    case 3:
      return { raw: `${wallAt(ms, 8)}+08:00`, stored: shanghaiIso(ms) }; // ISO 8601 with the zone's offset
    case 4:
      return { raw: wallAt(ms, 8).slice(0, 19).replace("T", " "), stored: shanghaiIso(seconds) }; // @JsonFormat yyyy-MM-dd HH:mm:ss
    case 5:
      return { raw: wallAt(ms, 8).slice(0, 19), stored: shanghaiIso(seconds) }; // ISO local time, read in the zone
    default:
      return { raw: `${wallAt(ms, -5)}-05:00`, stored: shanghaiIso(ms) }; // another offset
  }
});

const STAGE_SPELLINGS = DEFAULT_STAGES.flatMap((stage) => [
  { text: stage.code, code: stage.code },
  { text: stage.label, code: stage.code },
]);

/** A valid value of each field, within the contract's rules, with what the service keeps. */
export function validValue(field: FieldName): fc.Arbitrary<Sent> {
  switch (FIELD_KINDS[field]) {
    case "requiredText":
      return paddedText(maxLengthOf(field));
    case "optionalText":
      // "" (or blanks) clears an optional text field.
      return fc.oneof({ weight: 4, arbitrary: paddedText(maxLengthOf(field)) }, { weight: 1, arbitrary: fc.constantFrom("", " ", "\t  ").map((raw) => ({ raw, stored: null })) });
    case "amount":
      return fc
        .oneof(fc.integer({ min: 1, max: 1_000_000_000 }), fc.double({ min: Number.MIN_VALUE, max: 1e13, noNaN: true }), fc.constantFrom(1e13, 0.01, Number.MIN_VALUE, 2_800_000))
        .map((amount) => ({ raw: amount, stored: amount }));
    case "id":
      return fc.oneof(
        fc.integer({ min: 1, max: 2 ** 31 }).map((id) => ({ raw: id, stored: id })),
        fc.bigInt({ min: 2n ** 53n - 2n, max: INT64_MAX }).map((id) => ({ raw: id, stored: normalizeId(id) })),
        fc.bigInt({ min: 1n, max: INT64_MAX }).map((id) => ({ raw: String(id), stored: normalizeId(id) })),
        fc.constantFrom(INT64_MAX, 2n ** 53n + 1n, 1n).map((id) => ({ raw: id, stored: normalizeId(id) })),
      );
    case "boolean":
      return fc.boolean().map((value) => ({ raw: value, stored: value }));
    case "date":
      return fc
        .tuple(fc.date({ min: new Date(Date.UTC(1970, 0, 1)), max: new Date(Date.UTC(2100, 11, 31)), noInvalidDate: true }), fc.constantFrom(...EDGE_PADS))
        .map(([date, pad]) => ({ raw: pad + date.toISOString().slice(0, 10) + pad, stored: date.toISOString().slice(0, 10) }));
    case "dateTime":
      return pushTime;
    case "confidence":
      return padded(["a", "b", "c", "A", "B", "C"], (level) => level.toUpperCase());
    case "stage":
      return fc
        .tuple(fc.constantFrom(...EDGE_PADS), fc.constantFrom(...STAGE_SPELLINGS), fc.constantFrom(...EDGE_PADS))
        .map(([before, stage, after]) => ({ raw: before + stage.text + after, stored: stage.code }));
    case "status":
      return fc
        .tuple(fc.constantFrom("active", "closed", "won", "lost"), fc.constantFrom(...EDGE_PADS))
        .chain(([status, pad]) => randomCase(status).map((spelled) => ({ raw: pad + spelled + pad, stored: status })));
  }
}

/** The JSON value that sends a kept value again (a no-op update): every kept form is also an accepted one. */
export function resendOf(field: FieldName, stored: Stored): unknown {
  if (stored === null) return FIELD_KINDS[field] === "optionalText" ? "" : undefined;
  return stored;
}

/** Column of a field in the opportunities table (snake_case of the field name). */
export const columnOf = (field: string) => field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
