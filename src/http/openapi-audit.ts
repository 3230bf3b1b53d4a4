import type { DocumentDecoration } from "elysia";
import { JSON_UTF8 } from "./envelope";
import { envelopeSchema, failureExample, faults, headers, requestIdHeader, type Schema } from "./openapi-envelope";

/**
 * The OpenAPI text of the verification jobs (POST /api/audit/verifications, GET /api/audit/verifications/{id}):
 * the CLI's `verify` run by the service in the background, for an auditor without shell access (the console).
 */

const HEAD_PATTERN = "^\\s*[0-9]+:[0-9a-f]{64}\\s*$";
const EXAMPLE_HEAD = "1523:5f0c3b9e8d7a6f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a19080e91a";
const EXAMPLE_ID = "6f1c2a9e-4b3d-4e8a-9c6f-2d5b8e0a1f34";

const firstFailureSchema: Schema = {
  type: "object",
  nullable: true,
  description: "第一条问题（与 verify 打印的第一行 FAILED 相同）；链完整时为 null",
  required: ["position", "at", "reason", "line"],
  additionalProperties: false,
  properties: {
    position: { type: "integer", minimum: 1, nullable: true, description: "出问题的事件位置（position）；问题不属于某一个事件（schema、database、某张表）时为 null" },
    at: { type: "string", description: "问题所在：position N、table 表名、schema 或 database" },
    reason: { type: "string", description: "原因（英文，与 verify 打印的一致；控制字符已转义）" },
    line: { type: "string", description: "verify 打印的整行：FAILED at <at>: <reason>" },
  },
};

const resultSchema: Schema = {
  type: "object",
  nullable: true,
  description: "校验结果（state 为 done 时）；其他状态为 null",
  required: ["ok", "events", "opportunities", "head", "firstFailure", "lines"],
  additionalProperties: false,
  properties: {
    ok: { type: "boolean", description: "true：数据库与结构完好、链完整、更新前后一致、商机表与事件一致、幂等记录有据（与 verify 退出码 0 相同）" },
    events: { type: "integer", minimum: 0, description: "第一条问题之前校验通过的事件数（完整时为全部事件数）" },
    opportunities: { type: "integer", minimum: 0, description: "商机数" },
    head: { type: "string", description: "校验通过部分的链头 position:hash（与 verify 打印的 head 相同）；请保存在数据库管理员改不到的地方，下次作为 expectHead 传入" },
    firstFailure: firstFailureSchema,
    lines: { type: "array", items: { type: "string" }, description: "verify 命令对同一快照打印的全部输出行（OK 行与 head 行，或每条 FAILED 行与汇总行）" },
  },
};

const jobSchema: Schema = {
  type: "object",
  description: "校验任务（code 为 \"-1\" 时 data 为 null，见失败的形式）",
  required: ["id", "state", "expectHead", "checked", "total", "startedAt", "finishedAt", "result", "error"],
  additionalProperties: false,
  properties: {
    id: { type: "string", description: "任务 ID，用于查询进度与结果" },
    state: { type: "string", enum: ["running", "done", "error"], description: "running：进行中；done：已完成，见 result；error：未能完成（如数据库无法连接），见 error" },
    expectHead: { type: "string", nullable: true, description: "发起时传入的预期链头；未传为 null" },
    checked: { type: "integer", minimum: 0, description: "已校验到的事件位置（进度）" },
    total: { type: "integer", minimum: 0, nullable: true, description: "本次校验的快照中最后一个事件的位置；取得快照之前为 null" },
    startedAt: { type: "string", description: "开始时间，UTC ISO 8601" },
    finishedAt: { type: "string", nullable: true, description: "结束时间，UTC ISO 8601；进行中为 null" },
    result: resultSchema,
    error: { type: "string", nullable: true, description: "state 为 error 时的原因；否则为 null" },
  },
};

const RUNNING = {
  id: EXAMPLE_ID,
  state: "running",
  expectHead: EXAMPLE_HEAD,
  checked: 0,
  total: null,
  startedAt: "2026-04-30T02:20:30.123Z",
  finishedAt: null,
  result: null,
  error: null,
};

const FAILED_LINE = "FAILED at position 612: hash does not match the event's stored columns (the event was altered)";
const DONE_FAILED = {
  ...RUNNING,
  state: "done",
  checked: 1523,
  total: 1523,
  finishedAt: "2026-04-30T02:20:33.456Z",
  result: {
    ok: false,
    events: 611,
    opportunities: 210,
    head: "611:2c1e0d9b8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918070a1b2",
    firstFailure: { position: 612, at: "position 612", reason: "hash does not match the event's stored columns (the event was altered)", line: FAILED_LINE },
    lines: [FAILED_LINE, "(1 finding(s); the chain is sound up to head 611:2c1e0d9b8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918070a1b2, its first 611 events)"],
  },
};

const jobContent = (examples: Record<string, { summary: string; value: unknown }>) => ({ [JSON_UTF8]: { schema: envelopeSchema(jobSchema), examples } });

const AUDITOR_NOTE = "审计（auditor）角色可调用：发起校验只读取、不修改任何数据（这是只读角色唯一可调用的 POST 接口）。";

export function verificationStartDocs(): DocumentDecoration {
  return {
    tags: ["审计"],
    summary: "发起链校验任务",
    description: [
      "在后台运行与命令 `verify` 相同的校验：数据库自身（SQLite 的 integrity_check 与表结构；PostgreSQL 的防篡改触发器、唯一约束、head 行）、从位置 1 起的整条哈希链、每个事件的字段与前值、商机表与事件重放结果、幂等记录。" +
        "校验读取一个一致的快照，期间服务照常写入（SQLite 在单独的低优先级线程中运行，PostgreSQL 在只读的 REPEATABLE READ 事务中分页读取）。",
      "请求体可选：`{\"expectHead\":\"位置:哈希\"}`（verify 之前打印的 head）：链中该位置的哈希必须仍是它，末尾被删除的事件也能发现。不传请求体（或为空）即不带预期链头。" +
        "expectHead 格式错误、有其他字段、请求体不是 JSON 对象、带了查询参数时 code 为 \"-1\"，不发起任务。",
      "成功时 data 为新任务（state 为 running），用其 id 轮询 GET /api/audit/verifications/{id}。" +
        "每个实例同一时间只运行一个校验任务：已有任务进行中时 code 为 \"-1\"，msg 给出进行中的任务 ID 与进度，不发起新任务。",
      AUDITOR_NOTE,
    ].join("\n\n"),
    security: [{ InternalSecret: [] }],
    parameters: [...requestIdHeader],
    requestBody: {
      required: false,
      content: {
        "application/json": {
          schema: {
            type: "object",
            additionalProperties: false,
            properties: { expectHead: { type: "string", nullable: true, pattern: HEAD_PATTERN, description: "预期链头 position:hash（verify 打印的 head）；null 或不传表示不检查" } },
          },
          example: { expectHead: EXAMPLE_HEAD },
        },
      },
    },
    responses: {
      "200": {
        description: "成功时 data 为刚发起的任务；已有任务进行中或请求有误时 code 为 \"-1\"，msg 为原因，data 为 null",
        headers: headers(),
        content: jobContent({
          started: { summary: "已发起", value: { code: "0", msg: "success", data: RUNNING } },
          busy: {
            summary: "已有任务进行中",
            value: failureExample(`已有一个校验任务正在进行（任务 ${EXAMPLE_ID}，已校验到位置 600，共 1523），同一实例同时只运行一个校验任务，请等它完成后再发起`),
          },
          badHead: {
            summary: "expectHead 格式错误",
            value: failureExample("expectHead 必须是 位置:哈希（一个整数、冒号、64 位小写十六进制，即 verify 打印的 head），收到: \"1523\""),
          },
        }),
      },
      ...faults("400", "401", "405", "413", "415", "429", "500"),
    },
  } as DocumentDecoration;
}

export function verificationDocs(): DocumentDecoration {
  return {
    tags: ["审计"],
    summary: "链校验任务的进度与结果",
    description:
      "进行中（state 为 running）：checked 为已校验到的事件位置，total 为快照中最后一个事件的位置（取得快照之前为 null）。" +
      "完成（done）：result.ok 为 true 表示链完整，否则 result.firstFailure 给出第一个有问题的位置与原因，result.lines 为 verify 命令打印的全部行。" +
      "未能完成（error，如数据库无法连接）：error 为原因。任务只保存在受理它的实例的内存中（保留最近 20 个，重启后清空）；不存在时 code 为 \"-1\"。审计（auditor）角色可调用。",
    security: [{ InternalSecret: [] }],
    parameters: [{ in: "path", name: "id", required: true, schema: { type: "string" }, description: "发起时返回的任务 ID" }, ...requestIdHeader],
    responses: {
      "200": {
        description: "成功时 data 为任务的当前状态；任务不存在时 code 为 \"-1\"，data 为 null",
        headers: headers(),
        content: jobContent({
          running: { summary: "进行中", value: { code: "0", msg: "success", data: { ...RUNNING, checked: 600, total: 1523 } } },
          intact: {
            summary: "完成：链完整",
            value: {
              code: "0",
              msg: "success",
              data: {
                ...DONE_FAILED,
                result: {
                  ok: true,
                  events: 1523,
                  opportunities: 210,
                  head: EXAMPLE_HEAD,
                  firstFailure: null,
                  lines: ["OK: 1523 events, 210 opportunities; database and schema sound, chain intact, updates consistent, projection matches", `head ${EXAMPLE_HEAD}`],
                },
              },
            },
          },
          failed: { summary: "完成：发现问题", value: { code: "0", msg: "success", data: DONE_FAILED } },
          notFound: { summary: "任务不存在", value: failureExample(`校验任务不存在: "${EXAMPLE_ID}"（任务只保存在受理它的实例的内存中，保留最近 20 个，重启后清空）`) },
        }),
      },
      ...faults("400", "401", "405", "429", "500"),
    },
  } as DocumentDecoration;
}
