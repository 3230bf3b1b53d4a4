import { OPPORTUNITY_FIELD_NAMES, type OpportunityField } from "../../events/opportunity-events";
import { MAX_CODE_LENGTH } from "../commands";
import { FIELD_RULES, MAX_AMOUNT, STATUSES, type FieldRule } from "../field-rules";
import type { StageDictionary } from "../stage-dictionary";
import { SUPPORTED_RANGE_TEXT } from "../zoned-time";
import type { Schema } from "./openapi-envelope";

/**
 * The opportunity fields in the OpenAPI document, from the same rules that validate requests (field-rules.ts).
 * A request schema accepts every value the service accepts (a generated client must be able to send it: a
 * digit string as an ID, `"a"` as the confidence, `"WON"` as the status, epoch milliseconds as omsPushTime),
 * and null, which means "not sent". A record schema says what the service answers: canonical values only.
 */

/** Leading and trailing whitespace, which the service trims from every text it reads. */
const PADDED = (core: string) => `^\\s*(?:${core})\\s*$`;
/** Each letter either case: JSON Schema patterns have no case-insensitive flag. */
const eitherCase = (word: string) => [...word].map((letter) => `[${letter.toLowerCase()}${letter.toUpperCase()}]`).join("");

function requestText(rule: FieldRule, extra: string): Schema {
  // Required text must hold something besides whitespace; optional text may be "" (which clears the field).
  const pattern = rule.kind === "requiredText" ? { pattern: "\\S" } : {};
  return { type: "string", nullable: true, maxLength: rule.maxLength, ...pattern, description: `${rule.label}。${extra}` };
}

const ID_DESCRIPTION =
  "64 位整数（雪花 ID 也可，按原值精确保存，不会丢精度）；也接受纯数字字符串，如 \"1790000000000000001\"。" +
  "超过 2^53 时须写成不带小数点和指数的整数（1.5e17、9007199254740993.0 会被拒绝）。";

const DATE_TIME_DESCRIPTION =
  "接受 ISO 8601（如 2026-04-30T10:20:30+08:00，不带时区按服务配置的时区，默认 Asia/Shanghai）、" +
  "yyyy-MM-dd HH:mm:ss（按配置的时区）或毫秒时间戳（整数）。" +
  `时间须在配置时区的 ${SUPPORTED_RANGE_TEXT} 之间，否则返回：omsPushTime 超出支持的范围（${SUPPORTED_RANGE_TEXT}）: 传入值。` +
  "统一保存并返回为带时区偏移的 ISO 8601（RFC 3339，偏移为整分钟；该时区当时的偏移不是整分钟时，如 1972 年前的 Africa/Monrovia，以 UTC 的 Z 表示同一时刻），原样传回即为同一时刻。";

function stageList(stages: StageDictionary): string {
  return stages.stages.map((stage) => `${stage.code}（${stage.label}）`).join("、");
}

/** One field of a create or update body. */
function requestField(name: OpportunityField, rule: FieldRule, stages: StageDictionary): Schema {
  switch (rule.kind) {
    case "requiredText":
      return requestText(rule, `不能为空字符串，首尾空格会去掉，最长 ${rule.maxLength} 个字符。`);
    case "optionalText":
      return requestText(rule, `首尾空格会去掉；传 "" 表示清空；最长 ${rule.maxLength} 个字符。`);
    case "amount":
      return { type: "number", nullable: true, minimum: 0, exclusiveMinimum: true, maximum: MAX_AMOUNT, description: `${rule.label}，不能超过 ${MAX_AMOUNT}。`, example: 2800000 };
    case "id":
      return {
        anyOf: [
          { type: "integer", format: "int64", nullable: true, minimum: 1 },
          { type: "string", pattern: PADDED("0*[1-9][0-9]*"), description: "纯数字字符串" },
        ],
        description: `${rule.label}。${ID_DESCRIPTION}`,
      };
    case "boolean":
      return { type: "boolean", nullable: true, description: `${rule.label}。只接受 true 或 false。` };
    case "date":
      return {
        type: "string",
        nullable: true,
        pattern: PADDED("[0-9]{4}-[0-9]{2}-[0-9]{2}"),
        description: `${rule.label}。必须是真实存在的日期，如 2026-04-30（2026-02-30、2026/04/30 会被拒绝），且在 ${SUPPORTED_RANGE_TEXT} 之间。`,
        example: "2026-04-30",
      };
    case "dateTime":
      return {
        anyOf: [
          { type: "string", nullable: true, description: "ISO 8601 或 yyyy-MM-dd HH:mm:ss" },
          { type: "integer", format: "int64", description: "毫秒时间戳" },
        ],
        description: `${rule.label}。${DATE_TIME_DESCRIPTION}`,
        example: "2026-04-30T10:20:30+08:00",
      };
    case "confidence":
      return { type: "string", nullable: true, pattern: PADDED("[AaBbCc]"), description: `${rule.label}。仅支持 A、B、C，小写会转为大写。错误时返回：项目把握度仅支持A、B、C`, example: "A" };
    case "stage":
      return {
        type: "string",
        nullable: true,
        description: `${rule.label}。可传码值或中文名称，保存为码值。服务启动时的字典：${stageList(stages)}；运维可替换字典文件并重新加载，当前字典以 GET /api/stages 为准。错误时返回：项目阶段无效: 传入值`,
        example: "won",
      };
    case "status":
      return {
        type: "string",
        nullable: true,
        pattern: PADDED(STATUSES.map(eitherCase).join("|")),
        description: `${rule.label}。仅支持 ${STATUSES.join("、")}，忽略大小写，保存为小写。`,
        example: "won",
      };
  }
  throw new Error(`no schema for ${name}`);
}

export function requestFieldProperties(stages: StageDictionary): Record<string, Schema> {
  return Object.fromEntries(OPPORTUNITY_FIELD_NAMES.map((name) => [name, requestField(name, FIELD_RULES[name], stages)]));
}

/** One field of a record as the service answers it: its canonical form, null when it has no value. */
function recordField(rule: FieldRule, stages: StageDictionary): Schema {
  const described = (schema: Schema) => ({ ...schema, nullable: true, description: rule.label });
  switch (rule.kind) {
    case "requiredText":
    case "optionalText":
      return described({ type: "string" });
    case "amount":
      return described({ type: "number" });
    case "id":
      return described({ type: "integer", format: "int64" });
    case "boolean":
      return described({ type: "boolean" });
    case "date":
      return described({ type: "string", format: "date" });
    case "dateTime":
      return described({ type: "string", format: "date-time" });
    case "confidence":
      return described({ type: "string", enum: ["A", "B", "C", null] });
    case "stage":
      return { ...described({ type: "string" }), description: `${rule.label}（码值）。字典：${stageList(stages)}` };
    case "status":
      return described({ type: "string", enum: [...STATUSES, null] });
  }
}

/** An opportunity as the read route answers it: every field present, null when it has no value. */
export function recordSchema(stages: StageDictionary): Schema {
  const properties: Record<string, Schema> = {
    id: { type: "integer", format: "int64", description: "商机 ID" },
    opportunityCode: { type: "string", description: "商机编号" },
    endCustomerName: { type: "string", description: "最终客户" },
    ...Object.fromEntries(OPPORTUNITY_FIELD_NAMES.map((name) => [name, recordField(FIELD_RULES[name], stages)])),
    version: { type: "integer", minimum: 1, description: "版本号，每次有实际变化的更新加 1" },
    createdAt: { type: "string", format: "date-time", description: "创建时间（UTC）" },
    updatedAt: { type: "string", format: "date-time", description: "最后更新时间（UTC）" },
  };
  return { type: "object", required: Object.keys(properties), additionalProperties: false, properties };
}

export const codeSchema = {
  type: "string",
  maxLength: MAX_CODE_LENGTH,
  pattern: "\\S",
  description: `商机编号，必填，首尾空格会去掉，最长 ${MAX_CODE_LENGTH} 个字符。为空时返回：opportunityCode 不能为空`,
  example: "OPP-20260401-001",
};

/** A field's value before or after a change: any field's type, or null (not set). */
export const anyFieldValue = (description: string): Schema => ({
  anyOf: [{ type: "string", nullable: true }, { type: "number" }, { type: "boolean" }],
  description,
});

const fieldDiff: Schema = {
  type: "object",
  required: ["from", "to"],
  additionalProperties: false,
  properties: { from: anyFieldValue("当前值，未设置时为 null"), to: anyFieldValue("执行后的值，清空时为 null") },
};

/** What a dry run answers in data for a success: the id, the version the call would reach, and what would change. */
export const dryRunDataSchema: Schema = {
  type: "object",
  required: ["id", "version", "changes"],
  additionalProperties: false,
  description: "试运行（?dryRun=true）成功时的 data",
  properties: {
    id: { type: "integer", format: "int64", description: "商机 ID；创建时为按当前状态将分配的 ID（其他创建先提交时实际 ID 会不同）" },
    version: { type: "integer", minimum: 1, description: "执行后商机将达到的版本号；没有任何变化时为当前版本" },
    changes: {
      type: "object",
      additionalProperties: false,
      properties: Object.fromEntries(["endCustomerName", ...OPPORTUNITY_FIELD_NAMES].map((name) => [name, fieldDiff])),
      description: "将发生变化的字段：字段名 → {from: 当前值, to: 执行后的值}；创建时为将设置的每个字段（from 为 null，含默认值与 endCustomerName）；没有变化时为空对象",
    },
  },
};
