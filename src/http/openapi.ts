import type { DocumentDecoration } from "elysia";
import { MAX_END_CUSTOMER_LENGTH } from "../commands";
import type { StageDictionary } from "../stage-dictionary";
import { SUPPORTED_RANGE_TEXT } from "../zoned-time";
import { JSON_UTF8, MESSAGES } from "./envelope";
import {
  dryRunParameter,
  envelope,
  envelopeExamples,
  failureExample,
  failureSchema,
  faults,
  headers,
  idempotencyHeader,
  ifMatchHeader,
  readFaults,
  requestIdHeader,
  writeFaults,
  type Schema,
} from "./openapi-envelope";
import { anyFieldValue, codeSchema, dryRunDataSchema, recordSchema, requestFieldProperties } from "./openapi-fields";


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

const COMMON_RULES =
  "字段值为 null 视为未传（不修改）。传入未定义的字段（值不为 null 时）会被拒绝并指出字段名；多个字段有误时一次全部返回，用“；”分隔。";

/** What a write answers in data: the opportunity's id (a 64-bit integer, exact in the JSON text). */
export const idData = (description: string): Schema => ({ type: "integer", format: "int64", description });

/** A write's success data: the id, or in a dry run what the call would do. */
export const writeData = (description: string): Schema => ({ oneOf: [idData(description), dryRunDataSchema] });

/** The body of the update route, also each item of a batch update. */
export const updateBodySchema = (stages: StageDictionary): Schema => ({
  type: "object",
  required: ["opportunityCode"],
  additionalProperties: false,
  properties: { opportunityCode: codeSchema, ...requestFieldProperties(stages) },
});

const DRY_RUN_NOTE = "带 ?dryRun=true 时只试运行：校验并计算结果，不写入（响应头 X-Dry-Run: true，成功时 data 为 {id, version, changes}）。";

export function updateDocs(stages: StageDictionary): DocumentDecoration {
  return {
    tags: ["商机对接"],
    summary: "商机更新对接接口",
    description:
      "通过 opportunityCode 定位商机，按传入字段做部分更新，未传字段不修改；不支持更新商机的最终客户。" +
      `除 opportunityCode 外至少还要传一个更新字段。${COMMON_RULES}` +
      "业务结果（成功、校验失败、商机不存在）一律 HTTP 200，以 code 区分；值没有变化的更新同样返回成功，但不产生事件。" +
      DRY_RUN_NOTE +
      "\n\n常见错误：内部接口鉴权失败、商机不存在、opportunityCode 不能为空、至少传入一个需要更新的字段、项目阶段无效: xxx、项目把握度仅支持A、B、C。",
    security: [{ InternalSecret: [] }],
    parameters: [dryRunParameter, ...requestIdHeader, idempotencyHeader, ifMatchHeader],
    requestBody: {
      required: true,
      content: { "application/json": { schema: updateBodySchema(stages), example: CONTRACT_EXAMPLE } },
    },
    responses: {
      "200": {
        description: "成功时 data 为商机 ID（试运行时为 {id, version, changes}）；失败时 code 为 \"-1\"，msg 为原因，data 为 null。试运行的响应不带 ETag",
        headers: headers("ETag", "Idempotent-Replayed", "X-Dry-Run"),
        content: envelopeExamples(
          writeData("商机 ID"),
          {
            成功: { code: "0", msg: "success", data: 123 },
            试运行: { code: "0", msg: "success", data: { id: 123, version: 6, changes: { amount: { from: 1000000, to: 2800000 }, stage: { from: "negotiation", to: "won" } } } },
            试运行无变化: { code: "0", msg: "success", data: { id: 123, version: 5, changes: {} } },
            商机不存在: failureExample("商机不存在"),
            阶段无效: failureExample("项目阶段无效: xxx"),
            多个字段有误: failureExample("项目把握度仅支持A、B、C；amount 必须大于 0，收到: 0"),
            修改最终客户: failureExample("不支持更新商机的最终客户: endCustomerName"),
            版本冲突: failureExample("商机已被修改，当前版本为 5"),
            不支持的查询参数: failureExample("不支持的查询参数: dry_run，支持: dryRun"),
            dryRun取值无效: failureExample('dryRun 只能是 true（试运行：只校验并计算结果，不写入）；不需要时不传，收到: "1"'),
          },
        ),
      },
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
      `未传 status 时为 active，archived、pushedToOms 未传时为 false。${COMMON_RULES}编号已存在时返回：商机编号已存在: 编号。${DRY_RUN_NOTE}`,
    security: [{ InternalSecret: [] }],
    parameters: [dryRunParameter, ...requestIdHeader, idempotencyHeader],
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
              endCustomerName: {
                type: "string",
                maxLength: MAX_END_CUSTOMER_LENGTH,
                pattern: "\\S",
                description: `最终客户名称，必填，创建后不能通过对接接口修改，首尾空格会去掉，最长 ${MAX_END_CUSTOMER_LENGTH} 个字符。`,
              },
              ...requestFieldProperties(stages),
            },
          },
          example: { opportunityCode: "OPP-20260401-002", opportunityName: "某市政务云扩容项目", endCustomerName: "某市大数据局", stage: "solution", amount: 1500000 },
        },
      },
    },
    responses: {
      "200": {
        description: "成功时 data 为新商机的 ID（试运行时为 {id, version, changes}）；失败时 code 为 \"-1\"，data 为 null。试运行的响应不带 ETag",
        headers: headers("ETag", "Idempotent-Replayed", "X-Dry-Run"),
        content: envelopeExamples(writeData("新商机 ID"), {
          成功: { code: "0", msg: "success", data: 124 },
          试运行: {
            code: "0",
            msg: "success",
            data: {
              id: 124,
              version: 1,
              changes: {
                endCustomerName: { from: null, to: "某市大数据局" },
                opportunityName: { from: null, to: "某市政务云扩容项目" },
                amount: { from: null, to: 1500000 },
                stage: { from: null, to: "solution" },
                archived: { from: null, to: false },
                pushedToOms: { from: null, to: false },
                status: { from: null, to: "active" },
              },
            },
          },
          编号已存在: failureExample("商机编号已存在: OPP-20260401-001"),
        }),
      },
      ...writeFaults,
    },
  } as DocumentDecoration;
}

export function readDocs(stages: StageDictionary): DocumentDecoration {
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
      { in: "query", name: "version", required: false, schema: { type: "integer", minimum: 1 }, description: "版本号：返回该版本时的状态（响应头 ETag 为该版本）。不能与 asOf 同时传。" },
      ...requestIdHeader,
    ],
    responses: {
      "200": {
        description:
          "成功时 data 为商机数据，响应头 ETag 为返回数据的版本号（不带 asOf、version 时即当前版本，更新时可作为 If-Match）；" +
          "未找到、该时刻尚未创建、参数有误时 code 为 \"-1\"，data 为 null",
        headers: headers("ETag"),
        content: envelopeExamples(recordSchema(stages), { 成功: { code: "0", msg: "success", data: RECORD_EXAMPLE }, 商机不存在: failureExample("商机不存在") }),
      },
      ...readFaults,
    },
  } as DocumentDecoration;
}

const RECORD_EXAMPLE = {
  id: 123,
  opportunityCode: "OPP-20260401-001",
  endCustomerName: "某市大数据局",
  opportunityName: "某市政务云项目",
  projectLocation: "杭州",
  operatorName: null,
  amount: 2800000,
  expectedCloseDate: "2026-04-30",
  confidencePct: "A",
  stage: "won",
  opportunityType: null,
  productType: null,
  source: null,
  salesExpansionId: 1790000000000000001,
  channelExpansionId: null,
  preSalesId: null,
  preSalesName: null,
  competitorName: null,
  archived: false,
  pushedToOms: true,
  omsPushTime: "2026-04-30T10:20:30+08:00",
  status: "won",
  description: "外部系统回写成交结果",
  version: 2,
  createdAt: "2026-04-01T01:00:00.000Z",
  updatedAt: "2026-04-30T02:20:30.123Z",
};

const historyEntry = {
  type: "object",
  required: ["position", "version", "type", "recordedAt", "actor", "requestId", "changes"],
  additionalProperties: false,
  properties: {
    position: { type: "integer", minimum: 1, description: "全局序号" },
    version: { type: "integer", minimum: 1, description: "该商机的版本号" },
    type: { type: "string", enum: ["OpportunityCreated", "OpportunityUpdated"] },
    recordedAt: { type: "string", format: "date-time", description: "记录时间（UTC，毫秒）" },
    actor: { type: "string", description: "调用方名称（密钥对应的客户端名，不是密钥本身）" },
    requestId: { type: "string", description: "写入该事件的请求 ID；批量更新的各条事件相同" },
    batchIndex: { type: "integer", minimum: 0, description: "仅批量更新产生的事件有：该条在批量请求 items 中的序号（从 0 开始）；同一 requestId 的事件为同一批提交" },
    changes: {
      type: "array",
      items: {
        type: "object",
        required: ["field", "from", "to"],
        additionalProperties: false,
        properties: { field: { type: "string", description: "字段名" }, from: anyFieldValue("旧值，未设置时为 null"), to: anyFieldValue("新值，清空时为 null") },
      },
      description: "每个变化字段的旧值 from 与新值 to；创建事件中 from 均为 null",
    },
  },
};

const historyPage = {
  type: "object",
  required: ["opportunityCode", "items", "nextAfterVersion"],
  additionalProperties: false,
  properties: {
    opportunityCode: { type: "string" },
    items: { type: "array", items: historyEntry },
    nextAfterVersion: { type: "integer", nullable: true, description: "下一页的 afterVersion；null 表示没有更多" },
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
        description: "成功时 data.items 为事件列表；商机不存在或参数有误时 code 为 \"-1\"，data 为 null",
        headers: headers(),
        content: envelope(
          historyPage,
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
        headers: headers(),
        content: envelope(
          {
            type: "array",
            items: { type: "object", required: ["code", "label"], additionalProperties: false, properties: { code: { type: "string", description: "码值" }, label: { type: "string", description: "中文名称" } } },
          },
          { code: "0", msg: "success", data: [{ code: "won", label: "赢单" }] },
        ),
      },
      ...faults("400", "401", "405", "429", "500"),
    },
  } as DocumentDecoration;
}

const answerText = (value: string) => ({ type: "string", enum: [value] });

export function healthDocs(): DocumentDecoration {
  return {
    tags: ["运维"],
    summary: "存活检查",
    description: "进程存活即返回 data=\"ok\"。无需密钥。",
    responses: {
      "200": { description: "进程存活", headers: headers(), content: envelope(answerText("ok"), { code: "0", msg: "success", data: "ok" }) },
      ...faults("400", "405", "500"),
    },
  } as DocumentDecoration;
}

export function readyDocs(): DocumentDecoration {
  return {
    tags: ["运维"],
    summary: "就绪检查",
    description: "数据库已打开、可写、结构版本为当前版本时返回 200 data=\"ready\"；否则返回 HTTP 503 及原因。无需密钥，不写数据库。",
    responses: {
      "200": { description: "可以接收读写", headers: headers(), content: envelope(answerText("ready"), { code: "0", msg: "success", data: "ready" }) },
      "503": {
        description: "暂不能接收写入：msg 说明原因（数据库无法连接、磁盘已满、结构版本不符等）",
        headers: headers(),
        content: { [JSON_UTF8]: { schema: failureSchema, example: failureExample(MESSAGES.notReady("数据库无法连接 (ECONNREFUSED)")) } },
      },
      ...faults("400", "405", "500"),
    },
  } as DocumentDecoration;
}

/** The Prometheus text format's media type, as prom-client sends it. */
export const METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export function metricsDocs(bearerScheme: string): DocumentDecoration {
  return {
    tags: ["运维"],
    summary: "Prometheus 指标",
    description: "Prometheus 文本格式（version 0.0.4）。需要密钥：X-Internal-Secret 或 Authorization: Bearer <密钥>（便于 Prometheus 抓取配置）。",
    security: [{ InternalSecret: [] }, { [bearerScheme]: [] }],
    responses: {
      "200": {
        description: "指标文本",
        headers: headers(),
        content: { [METRICS_MEDIA_TYPE]: { schema: { type: "string" }, example: "# HELP opportunity_events_appended_total Events appended\n# TYPE opportunity_events_appended_total counter\nopportunity_events_appended_total 42\n" } },
      },
      ...faults("400", "401", "405", "429", "500"),
    },
  } as DocumentDecoration;
}

export function documentation(version: string) {
  return {
    openapi: "3.0.3",
    info: {
      title: "商机对接接口",
      version,
      license: { name: "内部使用，未公开授权" },
      description:
        "供 OMS、招投标、ERP 等外部系统调用的商机对接接口。除 /healthz、/readyz 与文档外，所有请求（包括不存在的路径）需带请求头 X-Internal-Secret（内部接口密钥），否则返回 401。" +
        "所有响应（包括错误；/metrics 除外，为 Prometheus 文本）都是 {code, msg, data} 结构，Content-Type 为 application/json;charset=UTF-8，响应头 X-Request-Id 为本次请求的 ID。" +
        "业务结果用 HTTP 200 返回并以 code 区分（\"0\" 成功，\"-1\" 失败，失败时 data 为 null；唯一例外是批量更新 allOrNone 失败时 data 为每条的结果）；协议错误使用各自的 HTTP 状态码：" +
        "400 请求体不是 JSON、路径编码或 Host 头无效，401 鉴权失败，403 只读审计角色调用写接口，404 路径不存在，405 请求方式不支持，413 请求体过大，415 Content-Type 错误，" +
        "429 同一地址鉴权失败过多（Retry-After），500 内部错误，503 数据库暂时不可用（Retry-After，写入未保存）。" +
        "密钥分两种角色：integrator（读写，默认）与 auditor（只读）。写接口（创建、更新、批量更新）可带 ?dryRun=true 试运行：校验并计算结果，不写入。",
    },
    // Relative: the docs page's generated requests go to the host the page was loaded from.
    servers: [{ url: "/", description: "本服务（与文档页同一地址）" }],
    tags: [
      { name: "商机对接", description: "商机的创建、部分更新、批量更新与查询" },
      { name: "审计", description: "变更历史、任意时刻的状态与全局事件流；只读，auditor 角色的密钥可调用" },
      { name: "运维", description: "健康检查、就绪检查与 Prometheus 指标" },
    ],
    components: {
      securitySchemes: {
        InternalSecret: { type: "apiKey", in: "header", name: "X-Internal-Secret", description: "内部接口密钥（请求头 X-Internal-Secret），在读取请求体之前校验；错误或缺失时返回 HTTP 401：内部接口鉴权失败" },
        MetricsBearer: { type: "http", scheme: "bearer", description: "仅 /metrics：Authorization: Bearer <内部接口密钥>，供 Prometheus 抓取" },
      },
    },
  };
}
