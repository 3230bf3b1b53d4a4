import { Elysia } from "elysia";
import { DEFAULT_BATCH_MAX_ITEMS, parseBatchUpdateBody } from "../batch-update-body";
import { ERROR_SEPARATOR, parseCreateBody, parseUpdateBody, type OpportunityCommand, type Parsed } from "../commands";
import type { FieldContext } from "../field-rules";
import type { StageDictionary } from "../stage-dictionary";
import type { SnapshotReads } from "../storage/port";
import type { GroupCommit } from "../write/group-commit";
import { dryRun } from "../write/dry-run";
import { rejection } from "./envelope";
import { readJsonBody } from "./json-body";
import { createDocs, updateDocs } from "./openapi";
import { batchUpdateDocs } from "./openapi-batch";
import { QueryReader } from "./query-params";
import { actorOf, noteOpportunityCode, requestIdOf } from "./request-context";
import { batchAnswer, writeAnswer } from "./write-answers";
import { fingerprintOf, readIdempotencyKey, readIfMatch } from "./write-headers";

/** What the write routes need of the write path: the queue's entry points and its key retention (for dry runs). */
export type WriteEntry = Pick<GroupCommit, "execute" | "executeBatch" | "retention">;

export interface OpportunityRouteDeps {
  /** Only the write path's entry points: the benchmark's no-database ceiling passes a stand-in. */
  writer: WriteEntry;
  /** Where a dry run reads the state it decides on. */
  storage: SnapshotReads;
  fieldContext: () => FieldContext;
  /** The dictionary the docs describe. */
  stages: StageDictionary;
  bodyLimit: number;
  /** Most items of one batch update. */
  batchMaxItems?: number;
}

export const BATCH_UPDATE_PATH = "/api/opportunities/integration/batch-update";
const BATCH_IF_MATCH = "批量更新不支持 If-Match：每条按当前版本处理，需要版本条件时请逐条调用更新接口";
const DRY_RUN_MEANING = "试运行：只校验并计算结果，不写入";

// The parsed body travels wrapped: a bare `null` body would make Elysia fall back to its own parser.
type JsonBody = { json: unknown };

/** The JSON body, its opportunity code noted for the request log even when the body is then rejected. */
function noted(request: Request, body: unknown): unknown {
  const json = (body as JsonBody).json;
  if (typeof json === "object" && json !== null) noteOpportunityCode(request, (json as Record<string, unknown>).opportunityCode);
  return json;
}

/**
 * The query of a write route: `dryRun=true|false` alone is known. Anything else is refused with the body's
 * errors: a parameter the route ignored (`?dryRun=1`, `?dry_run=true`) would write for real what the caller
 * meant to try.
 */
function readDryRun(request: Request, errors: string[]): boolean {
  const reader = new QueryReader(request.url, ["dryRun"]);
  const dry = reader.flag("dryRun", DRY_RUN_MEANING);
  errors.push(...reader.errors);
  return dry && reader.errors.length === 0;
}

/** The write routes: parse, decide and append through the writer (or decide only, in a dry run), answer the envelope. */
export function opportunityRoutes(deps: OpportunityRouteDeps) {
  const parseJson = async ({ request }: { request: Request }): Promise<JsonBody> => ({ json: await readJsonBody(request, deps.bodyLimit) });
  const batchMaxItems = deps.batchMaxItems ?? DEFAULT_BATCH_MAX_ITEMS;

  async function write(request: Request, route: string, json: unknown, parsed: Parsed<OpportunityCommand>, takesIfMatch: boolean): Promise<Response> {
    const requestId = requestIdOf(request);
    const headers: Record<string, string> = { "x-request-id": requestId };
    const errors = parsed.ok ? [] : [...parsed.errors];
    const expectedVersion = takesIfMatch ? readIfMatch(request, errors) : undefined;
    const key = readIdempotencyKey(request, errors);
    const dry = readDryRun(request, errors);
    if (dry) headers["x-dry-run"] = "true";
    if (!parsed.ok || errors.length > 0) return rejection(errors.join(ERROR_SEPARATOR), headers);
    const command = expectedVersion === undefined ? parsed.command : { ...parsed.command, expectedVersion };
    const actor = actorOf(request);
    const claim = key === undefined ? undefined : { client: actor, key, fingerprint: fingerprintOf(request.method, route, json, expectedVersion) };
    const metadata = { actor, requestId };
    const result = dry ? await dryRun({ command, metadata, idempotency: claim }, deps.storage, deps.writer.retention) : await deps.writer.execute(command, metadata, claim);
    // A dry run reached no version: an ETag would name one that may never exist.
    if (result.version !== undefined && !dry) headers.etag = `"${result.version}"`;
    if (result.replayed) headers["idempotent-replayed"] = "true";
    return writeAnswer(result, dry, headers);
  }

  async function writeBatch(request: Request, route: string, json: unknown): Promise<Response> {
    const requestId = requestIdOf(request);
    const headers: Record<string, string> = { "x-request-id": requestId };
    const parsed = parseBatchUpdateBody(json, deps.fieldContext(), batchMaxItems);
    const errors = parsed.ok ? [] : [...parsed.errors];
    if (request.headers.has("if-match")) errors.push(BATCH_IF_MATCH);
    const key = readIdempotencyKey(request, errors);
    const dry = readDryRun(request, errors);
    if (dry) headers["x-dry-run"] = "true";
    if (!parsed.ok || errors.length > 0) return rejection(errors.join(ERROR_SEPARATOR), headers);
    const actor = actorOf(request);
    // The key covers the whole batch: its fingerprint is the whole body's.
    const claim = key === undefined ? undefined : { client: actor, key, fingerprint: fingerprintOf(request.method, route, json) };
    const metadata = { actor, requestId };
    const batch = parsed.command;
    const result = dry ? await dryRun({ batch, metadata, idempotency: claim }, deps.storage, deps.writer.retention) : await deps.writer.executeBatch(batch, metadata, claim);
    if (result.replayed) headers["idempotent-replayed"] = "true";
    return result.ok ? batchAnswer(result.batch, dry, headers) : rejection(result.message, headers);
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
    )
    .put("/integration/batch-update", ({ request, route, body }) => writeBatch(request, route, (body as JsonBody).json), {
      parse: parseJson,
      detail: batchUpdateDocs(deps.stages, batchMaxItems),
    });
}
