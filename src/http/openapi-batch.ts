import type { DocumentDecoration } from "elysia";
import { NOT_RUN } from "../write/batch-update";
import type { StageDictionary } from "../stage-dictionary";
import { JSON_UTF8 } from "./envelope";
import { dryRunParameter, failureExample, failureSchema, headers, idempotencyHeader, requestIdHeader, successSchema, writeFaults, type Schema } from "./openapi-envelope";
import { CONTRACT_EXAMPLE, updateBodySchema, writeData } from "./openapi";

/** The batch update route's OpenAPI text: its body, its answer with one result per item, and its examples. */

/**
 * One item's result: the answer the update route gives alone (the envelope's success or failure), with the
 * item's place in the batch and its opportunity code before it; `overrides` says more of a member.
 */
function itemResult(answer: Schema, opportunityCode: string, overrides: Record<string, Schema> = {}): Schema {
  return {
    ...answer,
    required: ["index", "opportunityCode", ...(answer.required as string[])],
    properties: {
      index: { type: "integer", minimum: 0, description: "该条在 items 中的序号（从 0 开始）" },
      opportunityCode: { type: "string", nullable: true, description: opportunityCode },
      ...(answer.properties as Record<string, Schema>),
      ...overrides,
    },
  };
}

const itemSuccess = itemResult(successSchema(writeData("商机 ID")), "该条的商机编号（去掉首尾空格）");

const itemFailure = itemResult(failureSchema, "该条的商机编号；该条没有可读的编号时为 null", {
  msg: { type: "string", description: `失败原因，与更新接口单独调用时相同；allOrNone 失败时本可成功的条目为：${NOT_RUN}` },
});

const batchData: Schema = {
  type: "object",
  required: ["succeeded", "failed", "results"],
  additionalProperties: false,
  properties: {
    succeeded: { type: "integer", minimum: 0, description: "code 为 \"0\" 的条数" },
    failed: { type: "integer", minimum: 0, description: "code 为 \"-1\" 的条数（allOrNone 失败时为全部条数）" },
    results: { type: "array", items: { oneOf: [itemSuccess, itemFailure] }, description: "每条一个结果，顺序与 items 相同" },
  },
};

/** Processed (code "0"), or not: stopped by allOrNone (code "-1", the results in data) or refused whole (code "-1", data null). */
const batchEnvelope: Schema = {
  oneOf: [
    {
      type: "object",
      required: ["code", "msg", "data"],
      additionalProperties: false,
      description: "批量请求已处理（其中部分条目可能失败）",
      properties: { code: { type: "string", enum: ["0"], description: '"0" 已处理' }, msg: { type: "string", enum: ["success"] }, data: batchData },
    },
    {
      type: "object",
      required: ["code", "msg", "data"],
      additionalProperties: false,
      description: "未写入任何数据：allOrNone 为 true 且有条目失败（msg 为 第 N 条: 原因，N = index + 1；data 仍为每条的结果），或整批被拒绝（msg 为原因，data 为 null）",
      properties: {
        code: { type: "string", enum: ["-1"], description: '"-1" 失败' },
        msg: { type: "string", description: "中文错误信息" },
        data: { ...batchData, nullable: true, description: "allOrNone 失败时为每条的结果；整批被拒绝时为 null" },
      },
    },
  ],
};

const item = (index: number, opportunityCode: string | null, data: unknown, msg = "success") =>
  ({ index, opportunityCode, code: data === null ? "-1" : "0", msg, data });

const EXAMPLES = {
  部分失败: {
    code: "0",
    msg: "success",
    data: { succeeded: 2, failed: 1, results: [item(0, "OPP-20260401-001", 123), item(1, "OPP-20260401-009", null, "商机不存在"), item(2, "OPP-20260401-001", 123)] },
  },
  allOrNone失败: {
    code: "-1",
    msg: "第 2 条: 商机不存在",
    data: { succeeded: 0, failed: 3, results: [item(0, "OPP-20260401-001", null, NOT_RUN), item(1, "OPP-20260401-009", null, "商机不存在"), item(2, "OPP-20260401-002", null, NOT_RUN)] },
  },
  试运行: {
    code: "0",
    msg: "success",
    data: {
      succeeded: 2,
      failed: 0,
      results: [
        item(0, "OPP-20260401-001", { id: 123, version: 6, changes: { amount: { from: 1000000, to: 2800000 } } }),
        item(1, "OPP-20260401-001", { id: 123, version: 7, changes: { stage: { from: "negotiation", to: "won" } } }),
      ],
    },
  },
  条目字段有误: {
    code: "0",
    msg: "success",
    data: { succeeded: 0, failed: 1, results: [item(0, "OPP-20260401-001", null, "项目把握度仅支持A、B、C；amount 必须大于 0，收到: 0")] },
  },
  条数超限: failureExample("批量更新最多 200 条，本次 201 条"),
  items为空: failureExample("items 不能为空"),
};

export function batchUpdateDocs(stages: StageDictionary, maxItems: number): DocumentDecoration {
  return {
    tags: ["商机对接"],
    summary: "批量更新商机",
    description:
      `一次提交多条更新（默认最多 200 条，本服务为 ${maxItems} 条，超出时返回：批量更新最多 ${maxItems} 条，本次 N 条；整个请求体同样受请求体大小限制，默认 64 KiB）。` +
      "items 的每一条与更新接口的请求体完全相同，按相同规则校验、返回相同的中文信息；按顺序逐条处理，同一商机的多条依次生效，后一条基于前一条的结果。" +
      "每条实际变化产生一个独立的 OpportunityUpdated 事件，其元数据记录本次请求的 requestId 与该条的 batchIndex；整批的事件在同一个事务中提交，提交后才返回。" +
      "返回 data.results：每条一个结果，内容与单独调用更新接口时相同；只要整批被处理，外层 code 即为 \"0\"，即使其中有条目失败。" +
      `allOrNone 为 true 时，任一条失败则整批都不写入，外层 code 为 \"-1\"，msg 指出第一条失败（第 N 条: 原因，N = index + 1），data 仍为每条的结果，本可成功的条目 msg 为：${NOT_RUN}。` +
      "请求体不是含非空 items 数组的对象时整体拒绝（-1，data 为 null）。Idempotency-Key 覆盖整批：重试得到整批的第一次结果。不支持 If-Match（返回 -1）：需要版本条件时请逐条调用更新接口。" +
      "只读审计（auditor）角色调用返回 403。带 ?dryRun=true 时试运行：整批校验并计算，不写入，每条成功结果的 data 为 {id, version, changes}。",
    security: [{ InternalSecret: [] }],
    parameters: [dryRunParameter, ...requestIdHeader, idempotencyHeader],
    requestBody: {
      required: true,
      content: {
        "application/json": {
          schema: {
            type: "object",
            required: ["items"],
            additionalProperties: false,
            properties: {
              items: { type: "array", minItems: 1, maxItems, items: updateBodySchema(stages), description: "要更新的商机，每条与更新接口的请求体相同" },
              allOrNone: { type: "boolean", nullable: true, default: false, description: "true：任一条失败则整批都不写入；默认 false：各条独立成败" },
            },
          },
          example: { items: [CONTRACT_EXAMPLE, { opportunityCode: "OPP-20260401-002", amount: 1500000, stage: "bidding" }], allOrNone: false },
        },
      },
    },
    responses: {
      "200": {
        description: "整批处理后 code 为 \"0\"，data 为每条的结果；allOrNone 失败时 code 为 \"-1\"，data 仍为每条的结果；整批被拒绝时 code 为 \"-1\"，data 为 null",
        headers: headers("Idempotent-Replayed", "X-Dry-Run"),
        content: { [JSON_UTF8]: { schema: batchEnvelope, examples: Object.fromEntries(Object.entries(EXAMPLES).map(([name, value]) => [name, { value }])) } },
      },
      ...writeFaults,
    },
  } as DocumentDecoration;
}
