import { Elysia } from "elysia";
import { HttpFault, rejection } from "./envelope";
import { EVENT_STREAM_TYPE } from "./event-stream-frames";
import { STREAM_MESSAGES, type EventStreamHub } from "./event-stream-hub";
import { eventStreamDocs } from "./openapi-stream";
import { QueryReader } from "./query-params";
import { noteOpportunityCode, requestIdOf } from "./request-context";

export const EVENT_STREAM_PATH = "/api/events/stream";

/** Seconds a client refused for the stream limit is told to wait. */
const FULL_RETRY_AFTER_SECONDS = 5;

export interface EventStreamRouteDeps {
  hub: EventStreamHub;
  /** Told of each stream opened (serve lifts the connection's idle timeout: a stream may stay quiet for a whole heartbeat). */
  onOpen?: (request: Request) => void;
}

/**
 * Where a stream starts: after `Last-Event-ID` (an EventSource sends it when it reconnects, with the URL it was
 * first given), else after `after`, else from now on. Null position: from now on.
 */
function startOf(request: Request, reader: QueryReader): number | null {
  const after = reader.integer("after", 0, 0, Number.MAX_SAFE_INTEGER);
  const lastEventId = request.headers.get("last-event-id")?.trim();
  if (lastEventId) {
    if (/^\d{1,16}$/.test(lastEventId) && Number(lastEventId) <= Number.MAX_SAFE_INTEGER) return Number(lastEventId);
    reader.errors.push(STREAM_MESSAGES.badLastEventId(lastEventId));
    return null;
  }
  return reader.has("after") ? after : null;
}

/** no-cache: a cache must not answer a stream; X-Accel-Buffering: nginx passes each event on at once. */
const streamHeaders = (headers: Record<string, string>) => ({ ...headers, "content-type": EVENT_STREAM_TYPE, "cache-control": "no-cache", "x-accel-buffering": "no" });

/** GET /api/events/stream: the events as Server-Sent Events, live (see event-stream-hub.ts). A read route: auditors may call it. */
export function eventStreamRoute(deps: EventStreamRouteDeps) {
  return new Elysia({ name: "event-stream-route", normalize: false }).get(
    EVENT_STREAM_PATH,
    async ({ request }) => {
      const headers = { "x-request-id": requestIdOf(request) };
      const reader = new QueryReader(request.url, ["after", "opportunityCode"]);
      const after = startOf(request, reader);
      const opportunityCode = reader.text("opportunityCode") ?? null;
      const checked = reader.result(null);
      if (!checked.ok) return rejection(checked.message, headers);
      noteOpportunityCode(request, opportunityCode);
      // Elysia answers HEAD with the GET route and reads the whole body for its length: a stream has no end.
      if (request.method === "HEAD") return new Response(null, { headers: streamHeaders(headers) });
      const stream = await deps.hub.open({ after, opportunityCode });
      if (stream === "full") {
        return new HttpFault(429, STREAM_MESSAGES.full(deps.hub.limits.maxStreams), { "retry-after": String(FULL_RETRY_AFTER_SECONDS) }).toResponse(headers);
      }
      if (stream === "stopping") return new HttpFault(503, STREAM_MESSAGES.stopping, { "retry-after": "1" }).toResponse(headers);
      deps.onOpen?.(request);
      return new Response(stream, { headers: streamHeaders(headers) });
    },
    { detail: eventStreamDocs() },
  );
}
