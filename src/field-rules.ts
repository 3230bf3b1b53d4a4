import { normalizeInteger, sentNumberText, stringifyExactJson } from "../events/exact-json";
import type { FieldValue, OpportunityField } from "../events/opportunity-events";
import type { StageDictionary } from "./stage-dictionary";
import { formatZonedDateTime, isCalendarDate, isSupportedDate, isSupportedInstant, parseZonedDateTime, SUPPORTED_RANGE_TEXT } from "./zoned-time";

/**
 * The contract's rules for each updatable field, and the Chinese text integrators read in the docs.
 * Validation and the OpenAPI document both come from this one table, so they cannot drift apart.
 */
export type RuleKind = "requiredText" | "optionalText" | "amount" | "id" | "boolean" | "date" | "dateTime" | "confidence" | "stage" | "status";

export interface FieldRule {
  kind: RuleKind;
  /** The contract's description of the field. */
  label: string;
  maxLength?: number;
}

export const FIELD_RULES: Record<OpportunityField, FieldRule> = {
  opportunityName: { kind: "requiredText", label: "商机名称", maxLength: 200 },
  projectLocation: { kind: "optionalText", label: "项目地", maxLength: 200 },
  operatorName: { kind: "optionalText", label: "运作方", maxLength: 100 },
  amount: { kind: "amount", label: "商机金额,必须大于 0" },
  expectedCloseDate: { kind: "date", label: "预计结单日期,格式 YYYY-MM-DD" },
  confidencePct: { kind: "confidence", label: "把握度,建议传 A、B、C" },
  stage: { kind: "stage", label: "项目阶段,建议传 CRM 当前字典码值" },
  opportunityType: { kind: "optionalText", label: "建设类型", maxLength: 50 },
  productType: { kind: "optionalText", label: "产品类型", maxLength: 50 },
  source: { kind: "optionalText", label: "商机来源", maxLength: 50 },
  salesExpansionId: { kind: "id", label: "销售拓展 ID,必须大于 0" },
  channelExpansionId: { kind: "id", label: "渠道拓展 ID,必须大于 0" },
  preSalesId: { kind: "id", label: "售前 ID,必须大于 0" },
  preSalesName: { kind: "optionalText", label: "售前姓名", maxLength: 50 },
  competitorName: { kind: "optionalText", label: "竞品名称", maxLength: 200 },
  archived: { kind: "boolean", label: "是否归档" },
  pushedToOms: { kind: "boolean", label: "是否已推送 OMS" },
  omsPushTime: { kind: "dateTime", label: "推送 OMS 时间,建议 ISO 8601 格式" },
  status: { kind: "status", label: "商机状态,支持 active、closed、won、lost" },
  description: { kind: "optionalText", label: "备注", maxLength: 2000 },
};

export const STATUSES = ["active", "closed", "won", "lost"] as const;
export const CONFIDENCE_LEVELS = ["A", "B", "C"] as const;
/** Largest accepted amount: every amount up to it is exact to the cent in a double. */
export const MAX_AMOUNT = 1e13;
const INT64_MAX = 9223372036854775807n;

/** What field validation needs besides the value itself. */
export interface FieldContext {
  stages: StageDictionary;
  timeZone: string;
}

export type FieldResult = { ok: true; value: FieldValue } | { ok: false; error: string };

const ok = (value: FieldValue): FieldResult => ({ ok: true, value });
const fail = (error: string): FieldResult => ({ ok: false, error });

/** A bad value as integrators see it in a message: JSON, cut short when long. */
export function quote(value: unknown): string {
  // Anything a JSON body can hold, bigints inside objects included; never String(value) on an object, whose
  // "toString" the body itself may have set to something that is not a function.
  const text =
    typeof value === "bigint" || (typeof value === "number" && !Number.isFinite(value)) ? String(value) : (stringifyExactJson(value) ?? "undefined");
  return shortened(text);
}

const shortened = (text: string) => (text.length > 60 ? `${text.slice(0, 57)}...` : text);

/**
 * quote() for a member of a request body: a number as the sender wrote it (`9007199254740993.5`, `1.50`),
 * not as the double it was read into (9007199254740994, 1.5), so the message names what was sent.
 */
export function quoteSent(raw: unknown, body: object | undefined, key: string): string {
  const sent = typeof raw === "number" && body !== undefined ? sentNumberText(body, key) : undefined;
  return sent === undefined ? quote(raw) : shortened(sent);
}

/** How a failure message shows the value (quoteSent, worked out only when a message needs it). */
type Shown = () => string;

const codePointLength = (text: string) => {
  let length = 0;
  for (const _ of text) length += 1;
  return length;
};

/**
 * A string both backends and every client can store as sent: no lone UTF-16 surrogate (JSON can spell one,
 * "\ud800"), and no U+0000, which PostgreSQL text cannot hold (22021) although SQLite can.
 */
export function wellFormedTextError(name: string, text: string): string | null {
  if (!text.isWellFormed()) return `${name} 含有无效的 Unicode 字符（不成对的代理项，如 \\ud800）`;
  return text.includes("\u0000") ? `${name} 不能包含空字符（U+0000）` : null;
}

/** The message for a time or date outside the supported years (zoned-time.ts), quoting the value as sent. */
export const outOfRangeError = (name: string, raw: unknown, shown = quote(raw)) => `${name} 超出支持的范围（${SUPPORTED_RANGE_TEXT}）: ${shown}`;

function parseDate(name: string, raw: unknown, shown: Shown): FieldResult {
  const match = typeof raw === "string" ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(raw.trim()) : null;
  if (!match || !isCalendarDate(Number(match[1]), Number(match[2]), Number(match[3]))) {
    return fail(`${name} 必须是有效日期，格式 YYYY-MM-DD，收到: ${shown()}`);
  }
  return isSupportedDate(Number(match[1])) ? ok(match[0]) : fail(outOfRangeError(name, raw, shown()));
}

function parseDateTime(name: string, raw: unknown, timeZone: string, shown: Shown): FieldResult {
  const epochMs = typeof raw === "string" || typeof raw === "number" ? parseZonedDateTime(raw, timeZone) : null;
  if (epochMs === null) return fail(`${name} 必须是 ISO 8601 时间、yyyy-MM-dd HH:mm:ss 或毫秒时间戳，收到: ${shown()}`);
  return isSupportedInstant(epochMs, timeZone) ? ok(formatZonedDateTime(epochMs, timeZone)) : fail(outOfRangeError(name, raw, shown()));
}

function parseText(name: string, rule: FieldRule, raw: unknown, shown: Shown): FieldResult {
  if (typeof raw !== "string") return fail(`${name} 必须是字符串，收到: ${shown()}`);
  const malformed = wellFormedTextError(name, raw);
  if (malformed) return fail(malformed);
  const text = raw.trim();
  if (text === "") return rule.kind === "requiredText" ? fail(`${name} 不能为空`) : ok(null);
  const length = codePointLength(text);
  if (rule.maxLength !== undefined && length > rule.maxLength) {
    return fail(`${name} 长度不能超过 ${rule.maxLength} 个字符，收到 ${length} 个`);
  }
  return ok(text);
}

function parseId(name: string, raw: unknown, shown: Shown): FieldResult {
  // Every whole number written beyond 2^53 arrives as a bigint (exact-json.ts); a plain number there is one
  // whose exact value is lost (e.g. 9007199254740993.5), so it cannot be stored as the integer it claims to be.
  if (typeof raw === "number" && Number.isFinite(raw) && Math.abs(raw) > Number.MAX_SAFE_INTEGER) {
    return fail(`${name} 必须是大于 0 的整数，且超过 2^53 时须以不带小数点和指数的整数（或纯数字字符串）书写，收到: ${shown()}`);
  }
  let id: bigint | null = null;
  if (typeof raw === "bigint") id = raw;
  else if (typeof raw === "number" && Number.isInteger(raw)) id = BigInt(raw);
  else if (typeof raw === "string" && /^\s*-?\d+\s*$/.test(raw)) id = BigInt(raw.trim());
  if (id === null || id <= 0n) return fail(`${name} 必须是大于 0 的整数，收到: ${shown()}`);
  if (id > INT64_MAX) return fail(`${name} 超出 64 位整数范围（最大 ${INT64_MAX}），收到: ${shown()}`);
  return ok(normalizeInteger(id));
}

/**
 * Checks one field's raw JSON value (never null: null means "not sent" and is skipped before this). `body`, the
 * object the value was read from, lets a message quote a refused number as sent (quoteSent).
 */
export function parseFieldValue(name: OpportunityField, raw: unknown, context: FieldContext, body?: object): FieldResult {
  const rule = FIELD_RULES[name];
  const shown = () => quoteSent(raw, body, name);
  switch (rule.kind) {
    case "requiredText":
    case "optionalText":
      return parseText(name, rule, raw, shown);
    case "amount":
      if (typeof raw !== "number" && typeof raw !== "bigint") return fail(`${name} 必须是数字，收到: ${shown()}`);
      if (!(Number(raw) > 0)) return fail(`${name} 必须大于 0，收到: ${shown()}`);
      if (Number(raw) > MAX_AMOUNT) return fail(`${name} 不能超过 ${MAX_AMOUNT}，收到: ${shown()}`);
      return ok(Number(raw));
    case "id":
      return parseId(name, raw, shown);
    case "boolean":
      return typeof raw === "boolean" ? ok(raw) : fail(`${name} 必须是布尔值 true 或 false，收到: ${shown()}`);
    case "date":
      return parseDate(name, raw, shown);
    case "dateTime":
      return parseDateTime(name, raw, context.timeZone, shown);
    case "confidence": {
      const level = typeof raw === "string" ? raw.trim().toUpperCase() : null;
      return level !== null && (CONFIDENCE_LEVELS as readonly string[]).includes(level) ? ok(level) : fail("项目把握度仅支持A、B、C");
    }
    case "stage": {
      const code = typeof raw === "string" ? context.stages.resolve(raw) : null;
      return code !== null ? ok(code) : fail(`项目阶段无效: ${typeof raw === "string" ? raw : shown()}`);
    }
    case "status": {
      const status = typeof raw === "string" ? raw.trim().toLowerCase() : null;
      return status !== null && (STATUSES as readonly string[]).includes(status)
        ? ok(status)
        : fail(`商机状态无效: ${typeof raw === "string" ? raw : shown()}，仅支持 ${STATUSES.join("、")}`);
    }
  }
}
