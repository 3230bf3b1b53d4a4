import { Elysia } from "elysia";
import type { OpportunitiesTable } from "../../projections/opportunities-table";
import { ERROR_SEPARATOR, parseCreateBody, parseUpdateBody, type OpportunityCommand, type Parsed } from "../commands";
import { NOT_FOUND } from "../decide";
import type { FieldContext } from "../field-rules";
import type { OpportunityWriter } from "../opportunity-writer";
import type { StageDictionary } from "../stage-dictionary";
import { rejection, success } from "./envelope";
import { readJsonBody } from "./json-body";
import { presentOpportunity } from "./opportunity-record";
import { createDocs, readDocs, updateDocs } from "./openapi";
import { actorOf, requestIdOf } from "./request-context";

export interface OpportunityRouteDeps {
  writer: OpportunityWriter;
  opportunities: OpportunitiesTable;
  fieldContext: () => FieldContext;
  /** The dictionary the docs describe. */
  stages: StageDictionary;
  bodyLimit: number;
}

// The parsed body travels wrapped: a bare `null` body would make Elysia fall back to its own parser.
type JsonBody = { json: unknown };

/** The opportunity routes: parse, decide and append through the writer, answer the envelope. */
export function opportunityRoutes(deps: OpportunityRouteDeps) {
  const parseJson = async ({ request }: { request: Request }): Promise<JsonBody> => ({ json: await readJsonBody(request, deps.bodyLimit) });

  async function write(request: Request, parsed: Parsed<OpportunityCommand>): Promise<Response> {
    const requestId = requestIdOf(request);
    const headers = { "x-request-id": requestId };
    if (!parsed.ok) return rejection(parsed.errors.join(ERROR_SEPARATOR), headers);
    const result = await deps.writer.execute(parsed.command, { actor: actorOf(request), requestId });
    return result.ok ? success(result.id, headers) : rejection(result.message, headers);
  }

  return new Elysia({ name: "opportunity-routes", normalize: false, prefix: "/api/opportunities" })
    .put(
      "/integration/update",
      ({ request, body }) => write(request, parseUpdateBody((body as JsonBody).json, deps.fieldContext())),
      { parse: parseJson, detail: updateDocs(deps.stages) },
    )
    .post(
      "/integration/create",
      ({ request, body }) => write(request, parseCreateBody((body as JsonBody).json, deps.fieldContext())),
      { parse: parseJson, detail: createDocs(deps.stages) },
    )
    .get(
      "/:opportunityCode",
      ({ request, params }) => {
        const headers = { "x-request-id": requestIdOf(request) };
        const record = deps.opportunities.find(params.opportunityCode.trim());
        return record ? success(presentOpportunity(record), headers) : rejection(NOT_FOUND, headers);
      },
      { detail: readDocs(deps.stages) },
    );
}
