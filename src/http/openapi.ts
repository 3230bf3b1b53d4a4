import type { DocumentDecoration } from "elysia";
import { OPPORTUNITY_FIELD_NAMES, type OpportunityField } from "../../events/opportunity-events";
import { MAX_CODE_LENGTH, MAX_END_CUSTOMER_LENGTH } from "../commands";
import { FIELD_RULES, MAX_AMOUNT, STATUSES, type FieldRule } from "../field-rules";
import { DEFAULT_IDEMPOTENCY_MAX_KEYS, KeyRetention } from "../idempotency";
import type { StageDictionary } from "../stage-dictionary";
import { SUPPORTED_RANGE_TEXT } from "../zoned-time";
import { JSON_UTF8, MESSAGES } from "./envelope";

/**
 * The OpenAPI text integrators read, in Chinese, generated from the same field rules that validate requests.
 */

export const CONTRACT_EXAMPLE = {
  opportunityCode: "OPP-20260401-001",
  stage: "won",
  status: "won",
  confidencePct: "A",
  amount: 2800000,
  expectedCloseDate: "2026-04-30",
  description: "外部系统回写成交结果",
};

type Schema = Record<string, unknown>;

function fieldSchema(name: OpportunityField, rule: FieldRule, stages: StageDictionary): Schema {
  const nullable = { nullable: true };
  const text = (extra: string) => ({ type: "string", ...nullable, description: `${rule.label}。${extra}` });
  switch (rule.kind) {
    case "requiredText":
      return { ...text(`不能为空字符串，首尾空格会去掉，最长 ${rule.maxLength} 个字符。`), maxLength: rule.maxLength };
    case "optionalText":
      return { ...text(`首尾空格会去掉；传 "" 表示清空；最长 ${rule.maxLength} 个字符。`), maxLength: rule.maxLength };
    case "amount":
      return { type: "number", ...nullable, exclusiveMinimum: true, minimum: 0, maximum: MAX_AMOUNT, description: `${rule.label}，不能超过 ${MAX_AMOUNT}。`, example: 2800000 };
    case "id":
      return {
        type: "integer",
        format: "int64",
        ...nullable,
        minimum: 1,
        description:
          `${rule.label}。64 位整数（雪花 ID 也可，按原值精确保存，不会丢精度）；也接受纯数字字符串，如 "1790000000000000001"。` +
          "超过 2^53 时须写成不带小数点和指数的整数（1.5e17、9007199254740993.0 会被拒绝）。",
      };
    case "boolean":
      return { type: "boolean", ...nullable, description: `${rule.label}。只接受 true 或 false。` };
    case "date":
      return {
        ...text(`必须是真实存在的日期，如 2026-04-30（2026-02-30、2026/04/30 会被拒绝），且在 ${SUPPORTED_RANGE_TEXT} 之间。`),
        format: "date",
        example: "2026-04-30",
      };
    case "dateTime":
      return {
        ...text(
          "接受 ISO 8601（如 2026-04-30T10:20:30+08:00，不带时区按服务配置的时区，默认 Asia/Shanghai）、" +
            "yyyy-MM-dd HH:mm:ss（按配置的时区）或毫秒时间戳（数字，2000 至 2100 年之间）。" +
            `时间须在配置时区的 ${SUPPORTED_RANGE_TEXT} 之间，否则返回：omsPushTime 超出支持的范围（${SUPPORTED_RANGE_TEXT}）: 传入值。` +
            "统一保存并返回为带时区偏移的 ISO 8601（RFC 3339，偏移为整分钟；该时区当时的偏移不是整分钟时，如 1972 年前的 Africa/Monrovia，以 UTC 的 Z 表示同一时刻），原样传回即为同一时刻。",
        ),
        example: "2026-04-30T10:20:30+08:00",
      };
    case "confidence":
      return { ...text("仅支持 A、B、C，小写会转为大写。错误时返回：项目把握度仅支持A、B、C"), enum: ["A", "B", "C"] };
    case "stage": {
      const list = stages.stages.map((stage) => `${stage.code}（${stage.label}）`).join("、");
      return {
        ...text(`可传码值或中文名称，保存为码值。服务启动时的字典：${list}；运维可替换字典文件并重新加载，当前字典以 GET /api/stages 为准。错误时返回：项目阶段无效: 传入值`),
        example: "won",
      };
    }
    case "status":
      return { ...text(`仅支持 ${STATUSES.join("、")}，忽略大小写。`), enum: [...STATUSES] };
  }
  throw new Error(`no schema for ${name}`);
}

function fieldProperties(stages: StageDictionary): Record<string, Schema> {
  return Object.fromEntries(OPPORTUNITY_FIELD_NAMES.map((name) => [name, fieldSchema(name, FIELD_RULES[name], stages)]));
}

const codeSchema = {
  type: "string",
  maxLength: MAX_CODE_LENGTH,
  description: `商机编号，必填，首尾空格会去掉，最长 ${MAX_CODE_LENGTH} 个字符。为空时返回：opportunityCode 不能为空`,
  example: "OPP-20260401-001",
};

const COMMON_RULES =
  "字段值为 null 视为未传（不修改）。传入未定义的字段（值不为 null 时）会被拒绝并指出字段名；多个字段有误时一次全部返回，用“；”分隔。";

const envelopeSchema = (dataSchema: Schema) => ({
  type: "object",
  required: ["code", "msg", "data"],
  properties: {
    code: { type: "string", description: '"0" 成功，"-1" 失败', enum: ["0", "-1"] },
    msg: { type: "string", description: '成功时为 "success"，失败时为中文错误信息' },
    data: dataSchema,
  },
});

export const envelope = (dataSchema: Schema, example: unknown) => ({ [JSON_UTF8]: { schema: envelopeSchema(dataSchema), example } });

/** A 200 answer with several named examples (success and the business failures). */
const envelopeExamples = (dataSchema: Schema, examples: Record<string, unknown>) => ({
  [JSON_UTF8]: { schema: envelopeSchema(dataSchema), examples: Object.fromEntries(Object.entries(examples).map(([name, value]) => [name, { value }])) },
});

const failureExample = (msg: string) => ({ code: "-1", msg, data: null });
const fault = (description: string, msg: string) => ({ description, content: envelope({ nullable: true }, failureExample(msg)) });

const protocolFaults = {
  "400": fault("请求体不是合法的 JSON（或为空、不是 UTF-8）；或 Host 头不是主机名/IP 地址（可带端口），此时在校验密钥之前拒绝", MESSAGES.notJson),
  "401": fault("X-Internal-Secret 缺失或错误（在读取请求体之前校验）", MESSAGES.unauthorized),
  "403": fault("只读审计（auditor）角色的密钥调用了写接口，未做任何修改", MESSAGES.readOnlyRole("audit")),
  "404": fault("接口路径不存在", MESSAGES.notFound("PUT", "/api/unknown")),
  "405": fault("路径存在但不支持该请求方式（响应头 Allow 列出支持的方式）", MESSAGES.methodNotAllowed("GET", "PUT")),
  "413": fault("请求体超过大小限制（默认 64 KiB）", MESSAGES.tooLarge(64 * 1024)),
  "415": fault("Content-Type 不是 application/json", MESSAGES.unsupportedMediaType),
  "500": fault("服务器内部错误", MESSAGES.internal),
};

/** Faults of the write routes only: a throttled address, and a database that cannot take writes right now. */
const writeFaults = {
  "429": fault("同一来源地址鉴权失败次数过多，暂时拒绝（响应头 Retry-After 给出秒数）", MESSAGES.tooManyFailures(60)),
  "503": fault(
    "数据库暂时无法写入（磁盘已满、只读、繁忙）：本次修改未保存，可稍后用同一个 Idempotency-Key 重试（响应头 Retry-After）",
    "数据库磁盘空间已满，本次修改未保存，请稍后重试",
  ),
};

const idempotencyHeader = {
  in: "header",
  name: "Idempotency-Key",
  required: false,
  description:
    "可选的幂等键（1 到 255 个可见 ASCII 字符，建议 UUID），按调用方区分，默认保留 24 小时。超时重试时带上同一个键：" +
    "内容相同的请求直接返回第一次的结果（响应头 Idempotent-Replayed: true），不会重复修改；内容不同则拒绝：" +
    "Idempotency-Key 已用于另一个内容不同的请求；第一次还在处理中则返回：相同 Idempotency-Key 的请求正在处理中，请稍后重试。" +
    `每个调用方在保留期内最多持有 ${DEFAULT_IDEMPOTENCY_MAX_KEYS} 个键（默认值，可配置）；超出后带新键的请求不做任何修改，返回 HTTP 200 和：` +
    `${new KeyRetention().limitMessage()}（已持有的键重试、不带键的请求照常处理）。`,
  schema: { type: "string", maxLength: 255 },
};

const ifMatchHeader = {
  in: "header",
  name: "If-Match",
  required: false,
  description:
    "可选：查询接口返回的 ETag（商机版本号，如 \"3\"）。带上时，只有商机仍是该版本才会修改，否则返回：商机已被修改，当前版本为 N（响应头 ETag 为当前版本）。" +
    "不带时按字段“后写入者生效”。",
  schema: { type: "string", example: '"3"' },
};

const etagHeader = { ETag: { description: "商机修改后的版本号（带引号），可作为下次更新的 If-Match", schema: { type: "string" } } };

// X-Internal-Secret is declared once, as the security scheme: listing it as a parameter too would make the
// docs' generated curl send the header twice.
export const requestIdHeader = [
  {
    in: "header",
    name: "X-Request-Id",
    required: false,
    description: "可选的请求 ID，原样写入事件元数据并在响应头返回；不传则由服务生成",
    schema: { type: "string", maxLength: 128 },
  },
];

export function updateDocs(stages: StageDictionary): DocumentDecoration {
  return {
    tags: ["商机对接"],
    summary: "商机更新对接接口",
    description:
      "通过 opportunityCode 定位商机，按传入字段做部分更新，未传字段不修改；不支持更新商机的最终客户。" +
      `除 opportunityCode 外至少还要传一个更新字段。${COMMON_RULES}` +
      "业务结果（成功、校验失败、商机不存在）一律 HTTP 200，以 code 区分；值没有变化的更新同样返回成功，但不产生事件。" +
      "\n\n常见错误：内部接口鉴权失败、商机不存在、opportunityCode 不能为空、至少传入一个需要更新的字段、项目阶段无效: xxx、项目把握度仅支持A、B、C。",
    security: [{ InternalSecret: [] }],
    parameters: [...requestIdHeader, idempotencyHeader, ifMatchHeader],
    requestBody: {
      required: true,
      content: {
        "application/json": {
          schema: { type: "object", required: ["opportunityCode"], additionalProperties: false, properties: { opportunityCode: codeSchema, ...fieldProperties(stages) } },
          example: CONTRACT_EXAMPLE,
        },
      },
    },
    responses: {
      "200": {
        description: "成功时 data 为商机 ID；失败时 code 为 \"-1\"，msg 为原因",
        headers: etagHeader,
        content: envelopeExamples(
          { type: "integer", format: "int64", nullable: true, description: "商机 ID" },
          {
            成功: { code: "0", msg: "success", data: 123 },
            商机不存在: failureExample("商机不存在"),
            阶段无效: failureExample("项目阶段无效: xxx"),
            多个字段有误: failureExample("项目把握度仅支持A、B、C；amount 必须大于 0，收到: 0"),
            修改最终客户: failureExample("不支持更新商机的最终客户: endCustomerName"),
            版本冲突: failureExample("商机已被修改，当前版本为 5"),
          },
        ),
      },
      ...protocolFaults,
      ...writeFaults,
    },
  } as DocumentDecoration;
}

export function createDocs(stages: StageDictionary): DocumentDecoration {
  return {
    tags: ["商机对接"],
    summary: "创建商机",
    description:
      "创建一个商机。opportunityCode、opportunityName、endCustomerName 必填，其余字段与更新接口相同、校验规则相同。" +
      `未传 status 时为 active，archived、pushedToOms 未传时为 false。${COMMON_RULES}编号已存在时返回：商机编号已存在: 编号。`,
    security: [{ InternalSecret: [] }],
    parameters: [...requestIdHeader, idempotencyHeader],
    requestBody: {
      required: true,
      content: {
        "application/json": {
          schema: {
            type: "object",
            required: ["opportunityCode", "opportunityName", "endCustomerName"],
            additionalProperties: false,
            properties: {
              opportunityCode: codeSchema,
              endCustomerName: { type: "string", maxLength: MAX_END_CUSTOMER_LENGTH, description: `最终客户名称，必填，创建后不能通过对接接口修改，最长 ${MAX_END_CUSTOMER_LENGTH} 个字符。` },
              ...fieldProperties(stages),
            },
          },
          example: { opportunityCode: "OPP-20260401-002", opportunityName: "某市政务云扩容项目", endCustomerName: "某市大数据局", stage: "solution", amount: 1500000 },
        },
      },
    },
    responses: {
      "200": {
        description: "成功时 data 为新商机的 ID",
        headers: etagHeader,
        content: envelopeExamples(
          { type: "integer", format: "int64", nullable: true, description: "新商机 ID" },
          { 成功: { code: "0", msg: "success", data: 124 }, 编号已存在: failureExample("商机编号已存在: OPP-20260401-001") },
        ),
      },
      ...protocolFaults,
      ...writeFaults,
    },
  } as DocumentDecoration;
}

export const readFaults = { "401": protocolFaults["401"], "500": protocolFaults["500"] };

export function readDocs(stages: StageDictionary): DocumentDecoration {
  const record = {
    type: "object",
    nullable: true,
    properties: {
      id: { type: "integer", description: "商机 ID" },
      opportunityCode: { type: "string" },
      endCustomerName: { type: "string", description: "最终客户" },
      ...fieldProperties(stages),
      version: { type: "integer", description: "版本号，每次有实际变化的更新加 1" },
      createdAt: { type: "string", format: "date-time", description: "创建时间（UTC）" },
      updatedAt: { type: "string", format: "date-time", description: "最后更新时间（UTC）" },
    },
  };
  return {
    tags: ["商机对接"],
    summary: "查询商机（当前或历史某一时刻）",
    description:
      "按商机编号查询数据，没有值的字段为 null。不带参数时返回当前数据；带 asOf 或 version 时，返回由事件重放得到的当时状态（不读当前表）。" +
      "未找到时返回：商机不存在；该时刻尚未创建时返回：商机在 <时间> 时尚未创建。审计（auditor）角色可调用。",
    security: [{ InternalSecret: [] }],
    parameters: [
      { in: "path", name: "opportunityCode", required: true, schema: { type: "string" }, description: "商机编号" },
      {
        in: "query",
        name: "asOf",
        required: false,
        schema: { type: "string" },
        description:
          "时间点：ISO 8601（如 2026-04-01T12:00:00+08:00，不带时区按服务时区）或日期（如 2026-04-01，表示该日结束时）。返回该时刻（含）之前最后一次变化后的状态。" +
          `须在服务时区的 ${SUPPORTED_RANGE_TEXT} 之间，否则返回：asOf 超出支持的范围（${SUPPORTED_RANGE_TEXT}）: 传入值。`,
      },
      { in: "query", name: "version", required: false, schema: { type: "integer", minimum: 1 }, description: "版本号：返回该版本时的状态。不能与 asOf 同时传。" },
      ...requestIdHeader,
    ],
    responses: {
      "200": {
        description: "成功时 data 为商机数据；响应头 ETag 为当前版本号，更新时可作为 If-Match",
        headers: etagHeader,
        content: envelope(record, { code: "0", msg: "success", data: { id: 123, opportunityCode: "OPP-20260401-001", stage: "won", status: "won", version: 2 } }),
      },
      ...readFaults,
    },
  } as DocumentDecoration;
}

const historyEntry = {
  type: "object",
  properties: {
    position: { type: "integer", description: "全局序号" },
    version: { type: "integer", description: "该商机的版本号" },
    type: { type: "string", enum: ["OpportunityCreated", "OpportunityUpdated"] },
    recordedAt: { type: "string", format: "date-time", description: "记录时间（UTC，毫秒）" },
    actor: { type: "string", description: "调用方名称（密钥对应的客户端名，不是密钥本身）" },
    requestId: { type: "string" },
    changes: {
      type: "array",
      items: { type: "object", properties: { field: { type: "string" }, from: { nullable: true }, to: { nullable: true } } },
      description: "每个变化字段的旧值 from 与新值 to；创建事件中 from 均为 null",
    },
  },
};

export function historyDocs(): DocumentDecoration {
  return {
    tags: ["审计"],
    summary: "商机变更历史",
    description:
      "按顺序返回商机的每一个事件：谁（actor）、何时（recordedAt）、改了什么、从什么改成什么。分页：每页最多 limit 条（默认 100，最大 1000），" +
      "下一页用返回的 nextAfterVersion 作为 afterVersion；nextAfterVersion 为 null 表示没有更多。审计（auditor）角色可调用。",
    security: [{ InternalSecret: [] }],
    parameters: [
      { in: "path", name: "opportunityCode", required: true, schema: { type: "string" }, description: "商机编号" },
      { in: "query", name: "afterVersion", required: false, schema: { type: "integer", minimum: 0, default: 0 }, description: "从该版本之后开始" },
      { in: "query", name: "limit", required: false, schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } },
      ...requestIdHeader,
    ],
    responses: {
      "200": {
        description: "data.items 为事件列表",
        content: envelope(
          { type: "object", properties: { opportunityCode: { type: "string" }, items: { type: "array", items: historyEntry }, nextAfterVersion: { type: "integer", nullable: true } } },
          {
            code: "0",
            msg: "success",
            data: {
              opportunityCode: "OPP-20260401-001",
              items: [
                {
                  position: 7,
                  version: 2,
                  type: "OpportunityUpdated",
                  recordedAt: "2026-04-30T02:20:30.123Z",
                  actor: "oms",
                  requestId: "8f14e45f-ceea-467f-a0e6-3b2c9d7e1f00",
                  changes: [{ field: "stage", from: "negotiation", to: "won" }],
                },
              ],
              nextAfterVersion: null,
            },
          },
        ),
      },
      ...readFaults,
    },
  } as DocumentDecoration;
}

export function stagesDocs(): DocumentDecoration {
  return {
    tags: ["商机对接"],
    summary: "项目阶段字典",
    description: "当前生效的项目阶段字典（码值与中文名称）。stage 字段可传码值或中文名称。字典文件重新加载后立即反映在这里。",
    security: [{ InternalSecret: [] }],
    parameters: requestIdHeader,
    responses: {
      "200": {
        description: "data 为字典项列表",
        content: envelope(
          { type: "array", items: { type: "object", properties: { code: { type: "string" }, label: { type: "string" } } } },
          { code: "0", msg: "success", data: [{ code: "won", label: "赢单" }] },
        ),
      },
      ...readFaults,
    },
  } as DocumentDecoration;
}

export function documentation(version: string) {
  return {
    info: {
      title: "商机对接接口",
      version,
      description:
        "供 OMS、招投标、ERP 等外部系统调用的商机对接接口。除 /healthz、/readyz 与文档外，所有请求（包括不存在的路径）需带请求头 X-Internal-Secret（内部接口密钥），否则返回 401。" +
        "所有响应（包括错误）都是 {code, msg, data} 结构，Content-Type 为 application/json;charset=UTF-8。" +
        "业务结果用 HTTP 200 返回并以 code 区分（\"0\" 成功，\"-1\" 失败）；协议错误使用各自的 HTTP 状态码：" +
        "400 请求体不是 JSON，401 鉴权失败，403 只读审计角色调用写接口，404 路径不存在，405 请求方式不支持，413 请求体过大，415 Content-Type 错误，500 内部错误。" +
        "密钥分两种角色：integrator（读写，默认）与 auditor（只读）。",
    },
    tags: [
      { name: "商机对接", description: "商机的创建、部分更新与查询" },
      { name: "审计", description: "变更历史、任意时刻的状态与全局事件流；只读，auditor 角色的密钥可调用" },
      { name: "运维", description: "健康检查、就绪检查与 Prometheus 指标" },
    ],
    components: {
      securitySchemes: {
        MetricsBearer: { type: "http", scheme: "bearer", description: "仅 /metrics：Authorization: Bearer <内部接口密钥>，供 Prometheus 抓取" },
        InternalSecret: { type: "apiKey", in: "header", name: "X-Internal-Secret", description: "内部接口密钥（请求头 X-Internal-Secret），在读取请求体之前校验；错误或缺失时返回 HTTP 401：内部接口鉴权失败" },
      },
    },
  };
}
