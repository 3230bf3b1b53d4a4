import type { DocumentDecoration } from "elysia";
import { JSON_UTF8 } from "./envelope";
import { FEED_FORMATS } from "./event-feed";
import { envelope, headers, readFaults, requestIdHeader } from "./openapi-envelope";

/**
 * The OpenAPI text of the global event feed (GET /api/events): what each event holds in either form and how
 * its hash is made, so that an auditor can check the chain without this binary. The recipe is the README's
 * ("Recomputing the chain without the binary"), in Chinese; the worked example below is the README's too, and
 * a test recomputes its hash from both texts.
 */

/** The README's worked example: a real OpportunityCreated row, as `format=stored` gives it. */
export const HASH_EXAMPLE_ROW = {
  position: 1,
  event_id: "01KN3C9Q807XW2R4T9M6B1D3FQ",
  stream_id: "OPP-20260401-001",
  version: 1,
  type: "OpportunityCreated",
  schema_version: 1,
  data: '{"amount":2800000,"endCustomerName":"某市公安局","id":1,"opportunityCode":"OPP-20260401-001","opportunityName":"智慧园区安防项目","salesExpansionId":9007199254740993,"stage":"lead"}',
  metadata: '{"actor":"oms","requestId":"7f3c2a9e-1b4d-4e8a-9c6f-2d5b8e0a1f34"}',
  recorded_at: "2026-04-01T02:00:00.000Z",
  prev_hash: "0".repeat(64),
  hash: "5fbcc57d43dfb7e9633155fb5a393405279f01cc7d5bc21693ece4cb05acbbc8",
};

const hashText = (what: string) => ({ type: "string", description: `${what}：64 位小写十六进制（SHA-256）` });

/** One event of `format=stored`: the stored column names, `data` and `metadata` as the very text that was hashed. */
export const storedEventSchema = {
  type: "object",
  description: "存储形式的事件（format=stored）：字段名即数据库列名，data 与 metadata 为存储的 JSON 文本，与参与哈希的内容逐字节一致",
  required: ["position", "event_id", "stream_id", "version", "type", "schema_version", "data", "metadata", "recorded_at", "prev_hash", "hash"],
  additionalProperties: false,
  properties: {
    position: { type: "integer", minimum: 1, description: "全局顺序号，从 1 起连续无间隔" },
    event_id: { type: "string", description: "事件 ID（ULID）" },
    stream_id: { type: "string", description: "商机编号" },
    version: { type: "integer", minimum: 1, description: "该商机内的版本号，从 1 起连续" },
    type: { type: "string", description: "事件类型：OpportunityCreated 或 OpportunityUpdated（以后可能增加，不会改名）" },
    schema_version: { type: "integer", minimum: 1, description: "该类型 data 结构的版本" },
    data: {
      type: "string",
      description:
        "存储的 data 列原文（规范 JSON 文本）。计算哈希时原样作为字符串使用，不要解析后重新序列化；需要读取内容时请用能保留超过 2^53 的整数的解析器。",
    },
    metadata: { type: "string", description: "存储的 metadata 列原文（规范 JSON 文本）：actor（调用方名称）、requestId、可选的 idempotencyKey，批量更新的事件还有 batchIndex" },
    recorded_at: { type: "string", description: "记录时间，UTC ISO 8601，精确到毫秒，如 2026-04-01T02:00:00.000Z" },
    prev_hash: hashText("前一事件的 hash，第一个事件为 64 个 0"),
    hash: hashText("本事件的 hash"),
  },
  example: HASH_EXAMPLE_ROW,
};

/** One event of the default form: camelCase names, `data` and `metadata` parsed. */
export const feedEventSchema = {
  type: "object",
  description: "默认形式的事件（format=default 或不传）：驼峰字段名，data 与 metadata 已解析为对象",
  required: ["position", "eventId", "streamId", "version", "type", "schemaVersion", "data", "metadata", "recordedAt", "prevHash", "hash"],
  additionalProperties: false,
  properties: {
    position: { type: "integer", minimum: 1, description: "全局顺序号，从 1 起连续无间隔" },
    eventId: { type: "string", description: "事件 ID（ULID）" },
    streamId: { type: "string", description: "商机编号" },
    version: { type: "integer", minimum: 1, description: "该商机内的版本号，从 1 起连续" },
    type: { type: "string", description: "事件类型：OpportunityCreated 或 OpportunityUpdated（以后可能增加，不会改名）" },
    schemaVersion: { type: "integer", minimum: 1, description: "该类型 data 结构的版本" },
    data: {
      type: "object",
      additionalProperties: true,
      description:
        "事件内容。OpportunityCreated：id、opportunityCode、endCustomerName 及创建时传入的字段；OpportunityUpdated：changes（字段 → 新值）与 previous（字段 → 旧值），只含真正变化的字段，清空的字段为 null。" +
        "超过 2^53 的 ID 是 JSON 数字，按 double 解析会丢失精度：请用保留精度的解析器，或用 format=stored。",
    },
    metadata: {
      type: "object",
      required: ["actor", "requestId"],
      properties: {
        actor: { type: "string", description: "调用方名称（密钥对应的客户端名，从不记录密钥）" },
        requestId: { type: "string", description: "请求 ID（X-Request-Id）" },
        idempotencyKey: { type: "string", description: "请求带的 Idempotency-Key（如有）" },
        batchIndex: { type: "integer", minimum: 0, description: "仅批量更新产生的事件有：该条在批量请求 items 中的序号（从 0 开始）；同一 requestId 的事件为同一批提交" },
      },
    },
    recordedAt: { type: "string", description: "记录时间，UTC ISO 8601，精确到毫秒" },
    prevHash: hashText("前一事件的 hash，第一个事件为 64 个 0"),
    hash: hashText("本事件的 hash"),
  },
};

const headSchema = {
  type: "object",
  nullable: true,
  description: "读取本页之后最后一个事件的 position 与 hash；没有任何事件时为 null",
  required: ["position", "hash"],
  properties: { position: { type: "integer", minimum: 1 }, hash: hashText("最后一个事件的 hash") },
};

const feedPageSchema = {
  type: "object",
  description: "本页（code 为 \"-1\" 时 data 为 null，见失败的形式）",
  required: ["events", "nextAfter", "head"],
  properties: {
    events: { type: "array", description: "按 position 升序的事件，形式由 format 决定", items: { oneOf: [feedEventSchema, storedEventSchema] } },
    nextAfter: { type: "integer", nullable: true, description: "下一页的 after；null 表示已到末尾" },
    head: headSchema,
  },
};

const hashedJson =
  '{"data":"{\\"amount\\":2800000,…,\\"stage\\":\\"lead\\"}","event_id":"01KN3C9Q807XW2R4T9M6B1D3FQ","metadata":"{\\"actor\\":\\"oms\\",…}",' +
  '"position":1,"recorded_at":"2026-04-01T02:00:00.000Z","schema_version":1,"stream_id":"OPP-20260401-001","type":"OpportunityCreated","version":1}';

const DESCRIPTION = [
  "按全局顺序返回事件，供下游系统和审计方保存自己的副本，并在没有本服务程序的情况下复算哈希链。",
  `format 取值：${FEED_FORMATS.map((name) => `\`${name}\``).join("、")}。` +
    "`default`（不传同此）：驼峰字段名（position、eventId、streamId、version、type、schemaVersion、data、metadata、recordedAt、prevHash、hash），data 与 metadata 已解析为对象（各字段即 stored 形式中对应的列，如 prevHash 即 prev_hash）。" +
    "`stored`：参与哈希的存储形式，字段名即数据库列名 position、event_id、stream_id、version、type、schema_version、data、metadata、recorded_at、prev_hash、hash，" +
    "data 与 metadata 为存储的 JSON 文本（字符串，与参与哈希的内容逐字节一致）。其他取值返回 code \"-1\"：`format 必须是 default、stored 之一，收到: \"xml\"`。",
  "哈希算法（用 format=stored 的数据复算）：",
  "1. 取除 prev_hash、hash 以外的 9 列，写成一个 JSON 对象，键为列名，按字典序排列：data、event_id、metadata、position、recorded_at、schema_version、stream_id、type、version；不含其他键，不含任何空白（分隔符只有 `,` 和 `:`）。",
  "2. position、version、schema_version 写成十进制整数（无符号、无前导 0、无小数点和指数）；其余 6 列写成 JSON 字符串。data 与 metadata 不解析：其存储文本整体作为字符串值写入（文本中的 `\"` 写成 `\\\"`）。" +
    "字符串转义与 JavaScript 的 JSON.stringify、Python 的 json.dumps(ensure_ascii=False) 相同：`\"` → `\\\"`，`\\` → `\\\\`，U+0008、U+000C、U+000A、U+000D、U+0009 → `\\b` `\\f` `\\n` `\\r` `\\t`，" +
    "其余 U+0000–U+001F → `\\u00xx`（小写十六进制）；中文等其他字符（包括 `/`、U+007F、U+2028）原样写出，不转义。",
  "3. 输入 = prev_hash（64 位小写十六进制）+ 一个换行符 `\\n`（字节 0x0A）+ 上述 JSON，按 UTF-8 编码（无 BOM，末尾无换行）。hash = 输入的 SHA-256（sha256），写成 64 位小写十六进制。",
  "4. 第一个事件的 prev_hash 为 64 个 0；之后每个事件的 prev_hash 等于前一个事件的 hash；position 从 1 起连续。最后一个事件的 `position:hash` 即链头（head），与命令 `verify` 输出的一致；请把它保存在数据库管理员改不到的地方。",
  `示例：format=stored 的示例事件（见 200 响应的 stored 示例）要哈希的 JSON 为 \`${hashedJson}\`（省略处见示例），其 hash 为 \`${HASH_EXAMPLE_ROW.hash}\`。` +
    "仅用 Python 标准库的校验脚本见源码仓库 docs/verify_chain.py。",
  "分页：每页最多 limit 条；下一页用 nextAfter 作为 after，nextAfter 为 null 表示已到末尾。head 为读取本页之后最后一个事件的 position 与 hash（没有事件时为 null）。审计（auditor）角色可调用。",
].join("\n\n");

/**
 * The event after the worked example, in the default form (an update of the same opportunity): the page a
 * client reading on from `nextAfter` gets. Its hash is real too (a test recomputes it).
 */
export const DEFAULT_FORM_EXAMPLE = {
  position: 2,
  eventId: "01KQE303HB3HQ8ZK2V5N7RW1TB",
  streamId: "OPP-20260401-001",
  version: 2,
  type: "OpportunityUpdated",
  schemaVersion: 1,
  data: { changes: { amount: 3000000, stage: "won" }, previous: { amount: 2800000, stage: "lead" } },
  metadata: { actor: "oms", requestId: "8f14e45f-ceea-467f-a0e6-3b2c9d7e1f00" },
  recordedAt: "2026-04-30T02:20:30.123Z",
  prevHash: HASH_EXAMPLE_ROW.hash,
  hash: "71f59ee63c82d7fdc633b87cfa20863ab9e492f1703d59bb9074807603e70427",
};

const exampleHead = { position: 2, hash: DEFAULT_FORM_EXAMPLE.hash };

export function eventFeedDocs(): DocumentDecoration {
  const schema = envelope(feedPageSchema, null)[JSON_UTF8].schema;
  return {
    tags: ["审计"],
    summary: "事件流",
    description: DESCRIPTION,
    security: [{ InternalSecret: [] }],
    parameters: [
      { in: "query", name: "after", required: false, schema: { type: "integer", minimum: 0, default: 0 }, description: "从该 position 之后开始" },
      { in: "query", name: "limit", required: false, schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 }, description: "每页最多条数" },
      {
        in: "query",
        name: "format",
        required: false,
        schema: { type: "string", enum: [...FEED_FORMATS], default: "default" },
        description: "default：驼峰字段名，data 与 metadata 已解析；stored：存储列名，data 与 metadata 为参与哈希的 JSON 文本（审计复算哈希用）",
      },
      ...requestIdHeader,
    ],
    responses: {
      "200": {
        description: "data.events 为事件列表；查询参数有误时 code 为 \"-1\"，msg 为原因，data 为 null",
        headers: headers(),
        content: {
          [JSON_UTF8]: {
            schema,
            examples: {
              default: { summary: "format=default（默认），after=1", value: { code: "0", msg: "success", data: { events: [DEFAULT_FORM_EXAMPLE], nextAfter: null, head: exampleHead } } },
              stored: { summary: "format=stored，after=0&limit=1", value: { code: "0", msg: "success", data: { events: [HASH_EXAMPLE_ROW], nextAfter: 1, head: exampleHead } } },
              badFormat: { summary: "format 取值无效", value: { code: "-1", msg: "format 必须是 default、stored 之一，收到: \"xml\"", data: null } },
            },
          },
        },
      },
      ...readFaults,
    },
  } as DocumentDecoration;
}
