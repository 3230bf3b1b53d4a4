import { Elysia } from "elysia";
import type { FieldContext } from "../field-rules";
import type { SecretVerifier } from "../secrets";
import type { ServiceMetrics } from "../metrics";
import type { StageDictionary } from "../stage-dictionary";
import { StorageUnavailableError } from "../storage-errors";
import type { AuthThrottle } from "./auth-throttle";
import { docs, DOCS_PUBLIC_ROUTES } from "./docs";
import { healthRoutes } from "./health-routes";
import { EventStreamHub, streamSourceOf } from "./event-stream-hub";
import { eventStreamRoute } from "./event-stream-route";
import { envelopeResponse, HttpFault, JSON_UTF8, MESSAGES } from "./envelope";
import { DEFAULT_BODY_LIMIT } from "./json-body";
import { opportunityRoutes, type WriteEntry } from "./opportunity-routes";
import type { SnapshotReads } from "../storage/port";
import { readRoutes, type AppReads } from "./read-routes";
import { RouteTable } from "./route-table";
import { accessGate } from "./access-gate";
import { auditRoutes } from "./audit-routes";
import { consoleRoutes } from "./console-routes";
import { VerificationJobs } from "../audit/verification-jobs";
import { verificationRunnerFor } from "../audit/verification-runner";
import { requestIdOf } from "./request-context";
import { AccessTable } from "./route-access";
import type { TrustedProxies } from "./trusted-proxies";

export interface AppDeps {
  writer: WriteEntry;
  /** The database's reads, whichever backend holds it (a dry run's snapshot too). */
  storage: AppReads & SnapshotReads;
  verifier: () => SecretVerifier;
  stages: () => StageDictionary;
  timeZone: string;
  bodyLimit?: number;
  /** Most items of one batch update (default DEFAULT_BATCH_MAX_ITEMS). */
  batchMaxItems?: number;
  version: string;
  /** Serve /swagger and /swagger/json (default true). */
  docs?: boolean;
  /** Null when the service can take writes, else why not (for /readyz). */
  readiness?: () => string | null | Promise<string | null>;
  /** Prometheus metrics at /metrics when given. */
  metrics?: ServiceMetrics;
  /** Refuses addresses that keep failing authentication; none means no throttling. */
  authThrottle?: AuthThrottle;
  /** Proxies whose X-Forwarded-For names the client (for the throttle); none means the peer is the client. */
  trustedProxies?: TrustedProxies;
  /** Told when a write failed because the database could not take it (for readiness and logs). */
  onStorageUnavailable?: (error: StorageUnavailableError) => void;
  /** Where unexpected errors are reported; never given a secret. */
  onUnexpectedError?: (error: unknown, request: Request) => void;
  /** The live event streams (GET /api/events/stream); by default a hub over `storage` with the default limits. */
  eventStreams?: EventStreamHub;
  /** Told of each event stream opened (serve lifts that connection's idle timeout). */
  onEventStreamOpen?: (request: Request) => void;
  /** The verification jobs (POST /api/audit/verifications); by default `verify` over `storage`. */
  verifications?: VerificationJobs;
}

/** The whole HTTP service: authentication, routes, docs and the envelope on every answer. */
export function createApp(deps: AppDeps) {
  const fieldContext = (): FieldContext => ({ stages: deps.stages(), timeZone: deps.timeZone });
  const routes = opportunityRoutes({
    writer: deps.writer,
    storage: deps.storage,
    fieldContext,
    stages: deps.stages(),
    bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT,
    batchMaxItems: deps.batchMaxItems,
  });
  /** Elysia has no 405 of its own: a path that exists under another method is told which methods it has. */
  function notFound(request: Request, path: string): Response {
    const allowed = routeTable().methodsFor(path);
    const headers = { "x-request-id": requestIdOf(request) };
    if (allowed.length > 0) {
      const allow = allowed.join(", ");
      return new HttpFault(405, MESSAGES.methodNotAllowed(request.method, allow), { allow }).toResponse(headers);
    }
    return new HttpFault(404, MESSAGES.notFound(request.method, path)).toResponse(headers);
  }

  const eventStreams = deps.eventStreams ?? new EventStreamHub(streamSourceOf(deps.storage));
  const verifications = deps.verifications ?? new VerificationJobs(verificationRunnerFor(deps.storage));
  const gate = accessGate({ accessTable: () => accessTable(), verifier: deps.verifier, throttle: deps.authThrottle, proxies: deps.trustedProxies });
  // The router takes the path from the first "/" after "http://" (not from character 11 on, which skips the
  // start of the path behind a Host of 1-3 characters); request-target.ts holds the same rule for everyone else.
  const app = new Elysia({ normalize: false, handler: { standardHostname: false } })
    // Inline arrows naming what they read: Elysia reads each hook's source to learn which context fields to
    // fill. A method of another object hides `route` once minified (every public route then 401); handing the
    // whole context on makes it fill everything, `set` too, which makes it copy every answer. `path` is always
    // there (its types omit it).
    .onRequest((context) => gate.beforeRouting(context.request, (context as unknown as { path: string }).path))
    .onTransform(({ request, route }) => gate.forRouteThatRuns(request, route))
    .onError(({ code, error, request, path }) => {
      const headers = { "x-request-id": requestIdOf(request) };
      const fault = error instanceof HttpFault ? error : (error as { cause?: unknown })?.cause;
      if (fault instanceof HttpFault) return fault.toResponse(headers);
      if (error instanceof StorageUnavailableError) {
        deps.onStorageUnavailable?.(error);
        return envelopeResponse(503, { code: "-1", msg: error.userMessage, data: null }, { ...headers, "retry-after": "5" });
      }
      if (code === "NOT_FOUND") return notFound(request, path);
      if (code === "PARSE") return new HttpFault(400, MESSAGES.notJson).toResponse(headers);
      deps.onUnexpectedError?.(error, request);
      return envelopeResponse(500, { code: "-1", msg: MESSAGES.internal, data: null }, headers);
    })
    .mapResponse(({ response }) => {
      // Plain values (the OpenAPI document) get the same explicit charset as every envelope.
      if (response instanceof Response || typeof response !== "object" || response === null) return;
      return new Response(JSON.stringify(response), { headers: { "content-type": JSON_UTF8 } });
    })
    .use(deps.docs === false ? new Elysia({ name: "docs-off" }) : docs(deps.version))
    .use(healthRoutes({ readiness: deps.readiness ?? (() => null), metrics: deps.metrics }))
    .use(routes)
    .use(readRoutes({ storage: deps.storage, timeZone: deps.timeZone, stages: deps.stages }))
    .use(eventStreamRoute({ hub: eventStreams, onOpen: deps.onEventStreamOpen }))
    .use(auditRoutes({ jobs: verifications, bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT }))
    .use(consoleRoutes({ timeZone: deps.timeZone }));
  // Every route of the finished app, docs included; built on first use, once all routes are registered.
  let table: RouteTable | undefined;
  const routeTable = () => (table ??= new RouteTable(app.routes));
  let access: AccessTable | undefined;
  function accessTable(): AccessTable {
    return (access ??= new AccessTable(app.routes, deps.docs === false ? [] : DOCS_PUBLIC_ROUTES));
  }
  return Object.assign(app, { routeTable, accessTable, eventStreams, verifications });
}

export type App = ReturnType<typeof createApp>;
