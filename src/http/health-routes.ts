import { Elysia } from "elysia";
import type { ServiceMetrics } from "../metrics";
import { envelopeResponse, MESSAGES, success } from "./envelope";
import { requestIdOf } from "./request-context";
import { healthDocs, metricsDocs, readyDocs } from "./openapi";
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
    .get("/healthz", ({ request }) => success("ok", idHeader(request)), { detail: { ...healthDocs(), ...PUBLIC_ROUTE } })
    .get(
      "/readyz",
      async ({ request }) => {
        const reason = await deps.readiness();
        return reason === null ? success("ready", idHeader(request)) : envelopeResponse(503, { code: "-1", msg: MESSAGES.notReady(reason), data: null }, idHeader(request));
      },
      { detail: { ...readyDocs(), ...PUBLIC_ROUTE } },
    );
  if (!deps.metrics) return app;
  const metrics = deps.metrics;
  return app.get(
    "/metrics",
    async ({ request }) => new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType, ...idHeader(request) } }),
    { detail: metricsDocs(BEARER_SCHEME) },
  );
}
