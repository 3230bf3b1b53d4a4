import { Elysia } from "elysia";
import type { ServiceMetrics } from "../metrics";
import { envelopeResponse, MESSAGES, success } from "./envelope";
import { requestIdOf } from "./request-context";
import { BEARER_SCHEME, PUBLIC_ROUTE } from "./route-access";

const idHeader = (request: Request) => ({ "x-request-id": requestIdOf(request) });

export interface HealthDeps {
  /** Null when the service can take writes, else why not. */
  readiness: () => string | null | Promise<string | null>;
  metrics?: ServiceMetrics;
}

/** Liveness and readiness for supervisors (no secret, tiny answers) and Prometheus metrics (secret needed). */
export function healthRoutes(deps: HealthDeps) {
  const app = new Elysia({ name: "health-routes" })
    .get("/healthz", ({ request }) => success("ok", idHeader(request)), { detail: { ...PUBLIC_ROUTE, tags: ["运维"], summary: "存活检查", description: "进程存活即返回 data=\"ok\"。无需密钥。" } })
    .get(
      "/readyz",
      async ({ request }) => {
        const reason = await deps.readiness();
        return reason === null ? success("ready", idHeader(request)) : envelopeResponse(503, { code: "-1", msg: MESSAGES.notReady(reason), data: null }, idHeader(request));
      },
      {
        detail: {
          ...PUBLIC_ROUTE,
          tags: ["运维"],
          summary: "就绪检查",
          description: "数据库已打开、可写、结构版本为当前版本时返回 200 data=\"ready\"；否则返回 HTTP 503 及原因。无需密钥。",
        },
      },
    );
  if (!deps.metrics) return app;
  const metrics = deps.metrics;
  return app.get(
    "/metrics",
    async ({ request }) => new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType, ...idHeader(request) } }),
    {
      detail: {
        tags: ["运维"],
        summary: "Prometheus 指标",
        description: "Prometheus 文本格式。需要密钥：X-Internal-Secret 或 Authorization: Bearer <密钥>（便于 Prometheus 抓取配置）。",
        security: [{ InternalSecret: [] }, { [BEARER_SCHEME]: [] }],
      },
    },
  );
}
