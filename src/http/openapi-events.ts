import type { DocumentDecoration } from "elysia";
import { envelope, readFaults, requestIdHeader } from "./openapi";

/**
 * The OpenAPI text of the global event feed (GET /api/events): what each event holds and how its hash is made,
 * so that an auditor can check the chain without this binary.
 */

export function eventFeedDocs(): DocumentDecoration {
  return {
    tags: ["审计"],
    summary: "事件流",
    description:
      "按全局顺序返回事件，供下游系统和审计方保存自己的副本。每个事件包含存储的全部列：position、eventId、streamId（商机编号）、version、type、schemaVersion、" +
      "data、metadata、recordedAt、prevHash、hash。hash = sha256(prevHash + \"\\n\" + 其余列的规范 JSON（键排序、无空格，data 与 metadata 为其规范 JSON 文本）)，" +
      "第一个事件的 prevHash 为 64 个 0。下一页用 nextAfter 作为 after；head 为当前最后一个事件的 position 与 hash。审计（auditor）角色可调用。",
    security: [{ InternalSecret: [] }],
    parameters: [
      { in: "query", name: "after", required: false, schema: { type: "integer", minimum: 0, default: 0 }, description: "从该 position 之后开始" },
      { in: "query", name: "limit", required: false, schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } },
      ...requestIdHeader,
    ],
    responses: {
      "200": {
        description: "data.events 为事件列表",
        content: envelope(
          {
            type: "object",
            properties: {
              events: { type: "array", items: { type: "object" } },
              nextAfter: { type: "integer", nullable: true },
              head: { type: "object", nullable: true, properties: { position: { type: "integer" }, hash: { type: "string" } } },
            },
          },
          { code: "0", msg: "success", data: { events: [], nextAfter: null, head: { position: 7, hash: "9c1e…" } } },
        ),
      },
      ...readFaults,
    },
  } as DocumentDecoration;
}

