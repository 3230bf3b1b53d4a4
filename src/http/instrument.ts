import { log, logs } from "../log";
import type { ServiceMetrics } from "../metrics";
import { envelopeCodeOf, envelopeResponse, JSON_UTF8, MESSAGES } from "./envelope";
import { requestFacts, requestIdOf } from "./request-context";
import { pathOf } from "./request-target";
import { UNMATCHED, type RouteTable } from "./route-table";

type Server = { requestIP(request: Request): { address: string } | null };

/** Paths polled by supervisors and scrapers: logged at debug, so that they do not drown the request log. */
const QUIET = new Set(["/healthz", "/readyz", "/metrics"]);

/**
 * Elysia hands on the answers of parse failures (400, 413, 415) as new Response objects, so their code is not
 * remembered; every envelope with a status other than 200 is a failure, so it is "-1".
 */
function inferredEnvelopeCode(response: Response): string {
  return response.status !== 200 && response.headers.get("content-type") === JSON_UTF8 ? "-1" : "none";
}

/**
 * Wraps the app's handler with what operators see of each request: one JSON log line (time, level, request
 * id, method, route, status, envelope code, duration, actor, opportunity code; never a header, so never the
 * secret) and the request metrics.
 */
export function instrument(
  handle: (request: Request, server?: Server) => Promise<Response>,
  options: { routes: () => RouteTable; metrics?: ServiceMetrics },
): (request: Request, server?: Server) => Promise<Response> {
  return async (request, server) => {
    const started = performance.now();
    let response: Response;
    try {
      response = await handle(request, server);
    } catch (error) {
      log("error", "unhandled error", { requestId: requestIdOf(request), method: request.method, path: pathOf(request), error });
      response = envelopeResponse(500, { code: "-1", msg: MESSAGES.internal, data: null }, { "x-request-id": requestIdOf(request) });
    }
    const seconds = (performance.now() - started) / 1000;
    const path = pathOf(request);
    const route = options.routes().routeOf(request.method, path);
    const code = envelopeCodeOf(response) ?? inferredEnvelopeCode(response);
    options.metrics?.observeRequest(route, request.method, String(response.status), code, seconds);
    const level = QUIET.has(path) ? "debug" : "info";
    if (!logs(level)) return response;
    log(level, "request", {
      requestId: requestIdOf(request),
      method: request.method,
      route: route === UNMATCHED ? `${UNMATCHED} ${path.slice(0, 100)}` : route,
      status: response.status,
      code,
      durationMs: Math.round(seconds * 100_000) / 100,
      ...requestFacts(request),
    });
    return response;
  };
}
