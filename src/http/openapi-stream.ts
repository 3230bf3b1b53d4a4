import type { DocumentDecoration } from "elysia";
import { JSON_UTF8, MESSAGES } from "./envelope";
import { EVENT_STREAM_TYPE } from "./event-stream-frames";
import { DEFAULT_MAX_STREAMS, DEFAULT_STREAM_LIMITS, STREAM_MESSAGES } from "./event-stream-hub";
import { DEFAULT_FORM_EXAMPLE } from "./openapi-events";
import { failureExample, failureSchema, FAULTS, headers, requestIdHeader } from "./openapi-envelope";

/**
 * The OpenAPI text of the live event stream (GET /api/events/stream): Server-Sent Events whose `data` is one
 * item of GET /api/events, how a client resumes, and every answer it can give. OpenAPI 3.0 cannot describe the
 * frames of a stream, so the 200 body is a string whose form the description and the examples give.
 */

const heartbeatSeconds = DEFAULT_STREAM_LIMITS.heartbeatMs / 1000;
const bufferKiB = DEFAULT_STREAM_LIMITS.streamBufferBytes / 1024;

/** A created event in the default form, for the examples (the worked example of the feed, parsed). */
const CREATED_EXAMPLE = {
  position: 1,
  eventId: "01KN3C9Q807XW2R4T9M6B1D3FQ",
  streamId: "OPP-20260401-001",
  version: 1,
  type: "OpportunityCreated",
  schemaVersion: 1,
  data: { amount: 2800000, endCustomerName: "某市公安局", id: 1, opportunityCode: "OPP-20260401-001", opportunityName: "智慧园区安防项目", salesExpansionId: 9007199254740993, stage: "lead" },
  metadata: { actor: "oms", requestId: "7f3c2a9e-1b4d-4e8a-9c6f-2d5b8e0a1f34" },
  recordedAt: "2026-04-01T02:00:00.000Z",
  prevHash: "0".repeat(64),
  hash: DEFAULT_FORM_EXAMPLE.prevHash,
};

const frame = (event: { position: number; type: string }) => `id: ${event.position}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
// JSON.stringify would round the 64-bit ID of the example; the stream sends it exactly.
const exactFrame = (event: typeof CREATED_EXAMPLE) => frame(event).replace('"salesExpansionId":9007199254740992', '"salesExpansionId":9007199254740993');

const DESCRIPTION = [
  "以 Server-Sent Events（Content-Type: text/event-stream）实时推送事件，供下游系统在商机变化时立即处理，无需轮询 GET /api/events。审计（auditor）角色可调用。",
  "每个事件一帧：`id: <position>`、`event: <事件类型>`、`data: <与 GET /api/events 默认形式中的一条事件完全相同的 JSON>`，以空行结束。data 为单行 JSON；超过 2^53 的 ID 是精确的 JSON 数字，请用保留精度的解析器。",
  "起点：带请求头 Last-Event-ID 时从该 position 之后开始（EventSource 断线重连时自动带上最后收到的 id，因此不丢失也不重复）；否则带 after=N 时从 N 之后开始（after=0 为全部历史）；都不带时只推送连接之后提交的新事件。事件按 position 升序，每个恰好一次。",
  "任何写入方（本实例的接口、另一进程的 import 命令、同一 PostgreSQL 数据库上的其他实例）提交的事件，在提交后 200 毫秒内到达每个打开的事件流。从历史开始时，按客户端的读取速度补发，追上后转为实时推送。",
  `opportunityCode=编号：只推送该商机的事件（其他事件跳过，不发送 id）。连接建立时先发送一行注释 \`: connected\`；之后每 ${heartbeatSeconds} 秒（默认值，设置 streamHeartbeatSeconds）发送一行注释 \`: keep-alive\`，防止代理关闭空闲连接。以冒号开头的注释行客户端应忽略。`,
  `每个实例同时最多打开 ${DEFAULT_MAX_STREAMS} 个事件流（默认值，设置 maxStreams），超出时返回 HTTP 429：${STREAM_MESSAGES.full(DEFAULT_MAX_STREAMS)}（响应头 Retry-After）。` +
    `服务端为每个事件流最多缓存 ${bufferKiB} KiB 未读数据：客户端读得比事件产生得慢时（如批量导入），暂停推送，待其读完后再从数据库补发，不丢不重；` +
    `客户端停止读取（缓存已满且一个心跳周期内未读取任何数据）时断开该连接，服务端内存不会增长；重新连接并带上 Last-Event-ID 即可从断开处继续。`,
  "服务停止（SIGTERM）时，每个事件流收到一行注释后正常结束；EventSource 客户端会自动重连（经负载均衡可连到其他实例），带 Last-Event-ID 不丢事件。",
  "参数有误（未知参数、after 或 Last-Event-ID 不是整数）时按读接口的惯例返回 HTTP 200 与 JSON：code 为 \"-1\"，msg 为原因，data 为 null（EventSource 会因 Content-Type 不是 text/event-stream 而停止重连）。",
].join("\n\n");

const streamSchema = {
  type: "string",
  description: "事件流文本：每帧 id、event、data 三行加一个空行；以冒号开头的行为注释（心跳、停止通知）",
};

const streamExamples = {
  live: { summary: "after=0：从头推送，随后实时推送", value: `: connected\n\n${exactFrame(CREATED_EXAMPLE)}${frame(DEFAULT_FORM_EXAMPLE)}: keep-alive\n\n` },
  stopping: { summary: "服务停止时的最后一行", value: `${frame(DEFAULT_FORM_EXAMPLE)}: 服务正在停止，请重新连接（带 Last-Event-ID 可从断开处继续）\n\n` },
};

const refusalExamples = {
  unknownParameter: { summary: "未知的查询参数", value: failureExample("不支持的查询参数: limit，支持: after、opportunityCode") },
  badAfter: { summary: "after 不是整数", value: failureExample('after 必须是不小于 0 的整数，收到: "x"') },
  badLastEventId: { summary: "Last-Event-ID 不是整数", value: failureExample(STREAM_MESSAGES.badLastEventId("abc")) },
};

const withExamples = (description: string, examples: Record<string, { summary: string; value: unknown }>, ...extra: Parameters<typeof headers>) => ({
  description,
  headers: headers(...extra),
  content: { [JSON_UTF8]: { schema: failureSchema, examples } },
});

export function eventStreamDocs(): DocumentDecoration {
  return {
    tags: ["审计"],
    summary: "实时事件流（SSE）",
    description: DESCRIPTION,
    security: [{ InternalSecret: [] }],
    parameters: [
      { in: "query", name: "after", required: false, schema: { type: "integer", minimum: 0 }, description: "从该 position 之后开始（不带 Last-Event-ID 时生效）；不传则只推送新事件" },
      { in: "query", name: "opportunityCode", required: false, schema: { type: "string" }, description: "只推送该商机编号的事件" },
      {
        in: "header",
        name: "Last-Event-ID",
        required: false,
        description: "断线重连时最后收到的事件 id（position），从其后继续；优先于 after。EventSource 客户端自动发送",
        schema: { type: "string", pattern: "^\\s*[0-9]{1,16}\\s*$" },
      },
      ...requestIdHeader,
    ],
    responses: {
      "200": {
        description: "事件流（text/event-stream）；参数有误时为 JSON：code 为 \"-1\"，msg 为原因，data 为 null",
        headers: headers(),
        content: {
          [EVENT_STREAM_TYPE]: { schema: streamSchema, examples: streamExamples },
          [JSON_UTF8]: { schema: failureSchema, examples: refusalExamples },
        },
      },
      "400": FAULTS["400"],
      "401": FAULTS["401"],
      "405": FAULTS["405"],
      "429": withExamples(
        "同时打开的事件流已达上限（maxStreams），或同一来源地址鉴权失败次数过多；响应头 Retry-After 给出建议等待的秒数",
        {
          full: { summary: "事件流已达上限", value: failureExample(STREAM_MESSAGES.full(DEFAULT_MAX_STREAMS)) },
          throttled: { summary: "鉴权失败过多", value: failureExample(MESSAGES.tooManyFailures(60)) },
        },
        "Retry-After",
      ),
      "500": FAULTS["500"],
      "503": withExamples(
        "数据库暂时无法读取，或服务正在停止；未打开事件流，稍后重试（响应头 Retry-After）",
        {
          unavailable: { summary: "数据库暂时无法连接", value: failureExample("数据库暂时无法连接，本次修改未保存，请稍后重试") },
          stopping: { summary: "服务正在停止", value: failureExample(STREAM_MESSAGES.stopping) },
        },
        "Retry-After",
      ),
    },
  } as DocumentDecoration;
}
