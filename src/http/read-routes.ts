import { Elysia } from "elysia";
import { toHistoryEntry } from "../audit/history";
import { FoldSnapshots } from "../audit/fold-snapshots";
import { readStateAt } from "../audit/state-at";
import { NOT_FOUND } from "../decide";
import { formatZonedDateTime } from "../zoned-time";
import { HttpFault, MESSAGES, rejection, success } from "./envelope";
import { FEED_FORMATS, readFeedPage } from "./event-feed";
import { historyDocs, readDocs, stagesDocs } from "./openapi";
import { eventFeedDocs } from "./openapi-events";
import { presentOpportunity } from "./opportunity-record";
import { QueryReader } from "./query-params";
import { noteOpportunityCode, requestIdOf } from "./request-context";
import type { StageDictionary } from "../stage-dictionary";
import type { EventReads, OpportunityReads } from "../storage/port";

/** What the read routes need of the database, whichever backend holds it. */
export type AppReads = EventReads & OpportunityReads;

export interface ReadRouteDeps {
  storage: AppReads;
  timeZone: string;
  /** The stage dictionary in force (it can be reloaded). */
  stages: () => StageDictionary;
}

export const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

/**
 * The opportunity code from the path. Elysia hands over null for a parameter whose percent-escapes do not
 * decode (e.g. /api/opportunities/%zz): that is a malformed request, not an unknown opportunity.
 */
function codeParam(params: { opportunityCode?: unknown }): string {
  if (typeof params.opportunityCode !== "string") throw new HttpFault(400, MESSAGES.badPath);
  return params.opportunityCode.trim();
}

/**
 * The read-only routes: current or past state, history, the global event feed and the stage dictionary.
 * Auditors may call these.
 */
export function readRoutes(deps: ReadRouteDeps) {
  const headersOf = (request: Request) => ({ "x-request-id": requestIdOf(request) });

  // States at every 500th version of the streams read lately: a repeated point-in-time read folds a few events.
  const snapshots = new FoldSnapshots();

  async function readAsOf(code: string, url: string): Promise<Response | { record: Record<string, unknown> }> {
    const reader = new QueryReader(url, ["asOf", "version"]);
    const asOf = reader.instant("asOf", deps.timeZone);
    const version = reader.integer("version", 0, 1, Number.MAX_SAFE_INTEGER);
    if (reader.has("asOf") && reader.has("version")) reader.errors.push("asOf 和 version 只能传一个");
    const checked = reader.result({ asOf, version });
    if (!checked.ok) return rejection(checked.message);

    if (!reader.has("asOf") && !reader.has("version")) {
      const current = await deps.storage.findOpportunity(code);
      return current ? { record: presentOpportunity(current) } : rejection(NOT_FOUND);
    }
    const { state, latestVersion } = await readStateAt(deps.storage, code, asOf !== undefined ? { asOf } : { version }, snapshots);
    if (latestVersion === 0) return rejection(NOT_FOUND);
    if (asOf !== undefined) {
      return state ? { record: presentOpportunity(state) } : rejection(`商机在 ${formatZonedDateTime(asOf, deps.timeZone)} 时尚未创建`);
    }
    if (version > latestVersion) return rejection(`商机没有版本 ${version}，当前版本为 ${latestVersion}`);
    return state ? { record: presentOpportunity(state) } : rejection(NOT_FOUND);
  }

  return new Elysia({ name: "read-routes", normalize: false })
    .get(
      "/api/opportunities/:opportunityCode",
      async ({ request, params }) => {
        const code = codeParam(params);
        noteOpportunityCode(request, code);
        const answer = await readAsOf(code, request.url);
        if (answer instanceof Response) return withHeaders(answer, headersOf(request));
        // The version as an ETag: what an update sends back in If-Match to be applied only to this version.
        return success(answer.record, { ...headersOf(request), etag: `"${String(answer.record.version)}"` });
      },
      { detail: readDocs(deps.stages()) },
    )
    .get(
      "/api/opportunities/:opportunityCode/history",
      async ({ request, params }) => {
        const code = codeParam(params);
        noteOpportunityCode(request, code);
        const reader = new QueryReader(request.url, ["afterVersion", "limit"]);
        const afterVersion = reader.integer("afterVersion", 0, 0, Number.MAX_SAFE_INTEGER);
        const limit = reader.integer("limit", DEFAULT_PAGE, 1, MAX_PAGE);
        const checked = reader.result(null);
        if (!checked.ok) return rejection(checked.message, headersOf(request));
        const page = await deps.storage.readStreamPage(code, afterVersion, limit + 1);
        if (page.length === 0 && (await deps.storage.findOpportunity(code)) === null) return rejection(NOT_FOUND, headersOf(request));
        const items = page.slice(0, limit).map(toHistoryEntry);
        const nextAfterVersion = page.length > limit ? items[items.length - 1]!.version : null;
        return success({ opportunityCode: code, items, nextAfterVersion }, headersOf(request));
      },
      { detail: historyDocs() },
    )
    .get("/api/stages", ({ request }) => success(deps.stages().stages, headersOf(request)), { detail: stagesDocs() })
    .get(
      "/api/events",
      async ({ request }) => {
        const reader = new QueryReader(request.url, ["after", "limit", "format"]);
        const after = reader.integer("after", 0, 0, Number.MAX_SAFE_INTEGER);
        const limit = reader.integer("limit", DEFAULT_PAGE, 1, MAX_PAGE);
        const format = reader.oneOf("format", FEED_FORMATS, "default");
        const checked = reader.result(null);
        if (!checked.ok) return rejection(checked.message, headersOf(request));
        return success(await readFeedPage(deps.storage, after, limit, format), headersOf(request));
      },
      { detail: eventFeedDocs() },
    );
}

function withHeaders(response: Response, headers: Record<string, string>): Response {
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}
