import { Elysia } from "elysia";
import { ERROR_SEPARATOR, parseCreateBody, parseUpdateBody, type OpportunityCommand, type Parsed } from "../commands";
import type { FieldContext } from "../field-rules";
import type { OpportunityWriter } from "../opportunity-writer";
import type { StageDictionary } from "../stage-dictionary";
import { rejection, success } from "./envelope";
import { readJsonBody } from "./json-body";
import { createDocs, updateDocs } from "./openapi";
import { actorOf, noteOpportunityCode, requestIdOf } from "./request-context";
import { fingerprintOf, readIdempotencyKey, readIfMatch } from "./write-headers";

export interface OpportunityRouteDeps {
  /** Only the write path's entry point: the benchmark's no-database ceiling passes a stand-in. */
  writer: Pick<OpportunityWriter, "execute">;
  fieldContext: () => FieldContext;
  /** The dictionary the docs describe. */
  stages: StageDictionary;
  bodyLimit: number;
}

// The parsed body travels wrapped: a bare `null` body would make Elysia fall back to its own parser.
type JsonBody = { json: unknown };

/** The JSON body, its opportunity code noted for the request log even when the body is then rejected. */
function noted(request: Request, body: unknown): unknown {
  const json = (body as JsonBody).json;
  if (typeof json === "object" && json !== null) noteOpportunityCode(request, (json as Record<string, unknown>).opportunityCode);
  return json;
}

/** The write routes: parse, decide and append through the writer, answer the envelope. */
export function opportunityRoutes(deps: OpportunityRouteDeps) {
  const parseJson = async ({ request }: { request: Request }): Promise<JsonBody> => ({ json: await readJsonBody(request, deps.bodyLimit) });

  async function write(request: Request, route: string, json: unknown, parsed: Parsed<OpportunityCommand>, takesIfMatch: boolean): Promise<Response> {
    const requestId = requestIdOf(request);
    const headers: Record<string, string> = { "x-request-id": requestId };
    const errors = parsed.ok ? [] : [...parsed.errors];
    const expectedVersion = takesIfMatch ? readIfMatch(request, errors) : undefined;
    const key = readIdempotencyKey(request, errors);
    if (!parsed.ok || errors.length > 0) return rejection(errors.join(ERROR_SEPARATOR), headers);
    const command = expectedVersion === undefined ? parsed.command : { ...parsed.command, expectedVersion };
    const actor = actorOf(request);
    const claim = key === undefined ? undefined : { client: actor, key, fingerprint: fingerprintOf(request.method, route, json, expectedVersion) };
    const result = await deps.writer.execute(command, { actor, requestId }, claim);
    if (result.version !== undefined) headers.etag = `"${result.version}"`;
    if (result.replayed) headers["idempotent-replayed"] = "true";
    return result.ok ? success(result.id, headers) : rejection(result.message, headers);
  }

  return new Elysia({ name: "opportunity-routes", normalize: false, prefix: "/api/opportunities" })
    .put(
      "/integration/update",
      ({ request, route, body }) => {
        const json = noted(request, body);
        return write(request, route, json, parseUpdateBody(json, deps.fieldContext()), true);
      },
      { parse: parseJson, detail: updateDocs(deps.stages) },
    )
    .post(
      "/integration/create",
      ({ request, route, body }) => {
        const json = noted(request, body);
        return write(request, route, json, parseCreateBody(json, deps.fieldContext()), false);
      },
      { parse: parseJson, detail: createDocs(deps.stages) },
    );
}
