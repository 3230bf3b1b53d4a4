import { DEFAULT_IDEMPOTENCY_MAX_KEYS, KeyRetention } from "../idempotency";
import { JSON_UTF8, MESSAGES } from "./envelope";

/**
 * The OpenAPI pieces every operation shares: the {code, msg, data} envelope, the protocol faults with their
 * statuses, the response headers and the optional request headers. Every answer a route can give is described
 * from these, so that a generated client has a type for it (test/http/openapi-answers.test.ts records real answers
 * of every route and status and validates them against the document).
 */

export type Schema = Record<string, unknown>;

/**
 * What a failure's `data` is: always null. Said as "an object with no members, or null" rather than
 * `enum: [null]`: generated TypeScript types then read `data: null` as a member of type `null`, which
 * openapi-fetch's response types drop from the object altogether.
 */
export const NULL_DATA: Schema = { type: "object", nullable: true, additionalProperties: false, maxProperties: 0, description: "失败时为 null" };

/** A failed answer, whatever its status: code "-1", the Chinese reason, data null. */
export const failureSchema: Schema = {
  type: "object",
  required: ["code", "msg", "data"],
  additionalProperties: false,
  properties: {
    code: { type: "string", enum: ["-1"], description: '"-1" 失败' },
    msg: { type: "string", description: "中文错误信息" },
    data: NULL_DATA,
  },
};

export const successSchema = (data: Schema): Schema => ({
  type: "object",
  required: ["code", "msg", "data"],
  additionalProperties: false,
  properties: {
    code: { type: "string", enum: ["0"], description: '"0" 成功' },
    msg: { type: "string", enum: ["success"] },
    data,
  },
});

/**
 * An HTTP 200 answer: a success carrying `data`, or a business failure (code "-1", data null) such as
 * 商机不存在 or a validation message. `code` tells them apart, which generated clients see as a tagged union.
 */
export const envelopeSchema = (data: Schema): Schema => ({ oneOf: [successSchema(data), failureSchema] });

export const envelope = (data: Schema, example: unknown) => ({ [JSON_UTF8]: { schema: envelopeSchema(data), example } });

/** A 200 answer with several named examples (success and the business failures). */
export const envelopeExamples = (data: Schema, examples: Record<string, unknown>) => ({
  [JSON_UTF8]: { schema: envelopeSchema(data), examples: Object.fromEntries(Object.entries(examples).map(([name, value]) => [name, { value }])) },
});

export const failureExample = (msg: string) => ({ code: "-1", msg, data: null });

/** The response headers the service sends, by name. */
export const RESPONSE_HEADERS = {
  "X-Request-Id": { description: "本次请求的 ID：请求头 X-Request-Id 原样返回，未传时由服务生成；同时写入事件元数据与日志", schema: { type: "string" } },
  ETag: { description: "商机的版本号（带引号，如 \"3\"），可作为下次更新的 If-Match", schema: { type: "string" } },
  "Idempotent-Replayed": {
    description: "值为 true 时，本次响应是同一 Idempotency-Key 第一次请求的结果，本次未做任何修改",
    schema: { type: "string", enum: ["true"] },
  },
  Allow: { description: "该路径支持的请求方式，如 GET 或 PUT", schema: { type: "string" } },
  "Retry-After": { description: "建议多少秒后重试", schema: { type: "integer", minimum: 1 } },
  "X-Dry-Run": {
    description: "值为 true 时，本次为试运行（?dryRun=true）：已解析、校验并按当前状态计算结果，未写入任何数据（无事件、商机数据不变、未占用 Idempotency-Key）",
    schema: { type: "string", enum: ["true"] },
  },
} as const;

type HeaderName = keyof typeof RESPONSE_HEADERS;
export const headers = (...names: HeaderName[]) => Object.fromEntries(["X-Request-Id" as HeaderName, ...names].map((name) => [name, RESPONSE_HEADERS[name]]));

const fault = (description: string, msg: string, ...extra: HeaderName[]) => ({
  description,
  headers: headers(...extra),
  content: { [JSON_UTF8]: { schema: failureSchema, example: failureExample(msg) } },
});

/** Every protocol fault, by status. Which of them a route can give is listed per route below. */
export const FAULTS = {
  "400": fault(
    "请求体不是合法的 JSON（或为空、不是 UTF-8）；或路径不是合法的 URL 编码；或 Host 头不是主机名/IP 地址（可带端口），此时在校验密钥之前拒绝",
    MESSAGES.notJson,
  ),
  "401": fault("X-Internal-Secret 缺失或错误（在读取请求体之前校验）", MESSAGES.unauthorized),
  "403": fault("只读审计（auditor）角色的密钥调用了写接口，未做任何修改", MESSAGES.readOnlyRole("audit")),
  "405": fault("路径存在但不支持该请求方式（响应头 Allow 列出支持的方式）", MESSAGES.methodNotAllowed("DELETE", "PUT"), "Allow"),
  "413": fault("请求体超过大小限制（默认 64 KiB）", MESSAGES.tooLarge(64 * 1024)),
  "415": fault("Content-Type 不是 application/json", MESSAGES.unsupportedMediaType),
  "429": fault("同一来源地址鉴权失败次数过多，暂时拒绝（响应头 Retry-After 给出秒数）；在校验密钥之前拒绝", MESSAGES.tooManyFailures(60), "Retry-After"),
  "500": fault("服务器内部错误", MESSAGES.internal),
  "503": fault(
    "数据库暂时无法读写（无法连接、磁盘已满、只读、繁忙）：写入时本次修改未保存，可稍后用同一个 Idempotency-Key 重试（响应头 Retry-After）",
    "数据库暂时无法连接，本次修改未保存，请稍后重试",
    "Retry-After",
  ),
} as const;

type FaultStatus = keyof typeof FAULTS;
export const faults = (...statuses: FaultStatus[]) => Object.fromEntries(statuses.map((status) => [status, FAULTS[status]]));

/** The faults of a route that needs the secret and reads the database. */
export const readFaults = faults("400", "401", "405", "429", "500", "503");
/** The faults of the write routes: those of a read, and a body or a role that is refused. */
export const writeFaults = faults("400", "401", "403", "405", "413", "415", "429", "500", "503");

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

export const idempotencyHeader = {
  in: "header",
  name: "Idempotency-Key",
  required: false,
  description:
    "可选的幂等键（1 到 255 个可见 ASCII 字符，建议 UUID），按调用方区分，默认保留 24 小时。超时重试时带上同一个键：" +
    "内容相同的请求直接返回第一次的结果（响应头 Idempotent-Replayed: true），不会重复修改；内容不同则拒绝：" +
    "Idempotency-Key 已用于另一个内容不同的请求；第一次还在处理中则返回：相同 Idempotency-Key 的请求正在处理中，请稍后重试。" +
    `每个调用方在保留期内最多持有 ${DEFAULT_IDEMPOTENCY_MAX_KEYS} 个键（默认值，可配置）；超出后带新键的请求不做任何修改，返回 HTTP 200 和：` +
    `${new KeyRetention().limitMessage()}（已持有的键重试、不带键的请求照常处理）。`,
  schema: { type: "string", minLength: 1, maxLength: 255, pattern: "^[\\x21-\\x7e]+$" },
};

// No example on the schema: the docs page would put it in every generated request, so that a copied curl
// would only try what it was meant to do.
export const dryRunParameter = {
  in: "query",
  name: "dryRun",
  required: false,
  description:
    "试运行：传 true 时完整解析、校验请求，并按商机的当前状态计算结果，但不写入任何数据：不产生事件、商机数据不变、不占用 Idempotency-Key（带键时只按已保存的键判断，重试已用过的键得到与真实重试相同的结果）。" +
    "响应带 X-Dry-Run: true，code 与 msg 与真实调用相同；成功时 data 为 {id, version, changes}：商机 ID、执行后将达到的版本号、每个将变化字段的 {from, to}（没有变化时 changes 为空对象）。" +
    "试运行读取当前已提交的状态，不加锁也不预留：之后有其他写入时，真实调用的结果可能不同。不传时正常执行；传 true 以外的值（如 false、1、TRUE、空值）返回 -1：dryRun 只能是 true（试运行：只校验并计算结果，不写入）；不需要时不传，收到: 传入值。" +
    "写接口只接受 dryRun 这一个查询参数，其他查询参数一律拒绝（-1，不写入）：不支持的查询参数: 参数名，支持: dryRun。",
  schema: { type: "boolean", enum: [true] },
};

// No example on the schema: the docs page would put it in every generated request, and a copied curl would
// then fail with 商机已被修改 on any opportunity not at that version.
export const ifMatchHeader = {
  in: "header",
  name: "If-Match",
  required: false,
  description:
    "可选：查询接口返回的 ETag（商机版本号，如 \"3\"；也接受 3 和 W/\"3\"，按同一版本处理）。带上版本号时，只有商机仍是该版本才会修改，否则返回：商机已被修改，当前版本为 N（响应头 ETag 为当前版本）。" +
    "传 * 表示“商机存在即可”（RFC 9110），按当前版本修改；商机不存在时仍返回：商机不存在。" +
    "不支持多个版本（如 \"3\", \"4\"，或 * 与版本号并列），否则返回：If-Match 必须是商机的一个版本号（读接口返回的 ETag，如 \"3\"）或 *（商机存在即可），收到: …。" +
    "不带时按字段“后写入者生效”。与 Idempotency-Key 同用时，版本号属于请求内容：同一个键换了版本号（或一次带、一次不带）视为另一个请求而被拒绝；* 与不带相同。",
  schema: { type: "string", pattern: '^\\s*(\\*|(W/)?"?[0-9]{1,15}"?)\\s*$' },
};
