import { Elysia } from "elysia";
import { parseHead, type Head } from "../../events/verify-chain";
import { ERROR_SEPARATOR } from "../commands";
import { quote } from "../field-rules";
import { VERIFICATION_MESSAGES, type VerificationJobs } from "../audit/verification-jobs";
import { HttpFault, MESSAGES, rejection, success } from "./envelope";
import { readJsonBody } from "./json-body";
import { verificationDocs, verificationStartDocs } from "./openapi-audit";
import { requestIdOf } from "./request-context";
import { AUDITOR_ALLOWED } from "./route-access";

export const VERIFICATIONS_PATH = "/api/audit/verifications";

export interface AuditRouteDeps {
  jobs: VerificationJobs;
  bodyLimit: number;
}

export const START_MESSAGES = {
  badExpectHead: (value: unknown) => `expectHead 必须是 位置:哈希（一个整数、冒号、64 位小写十六进制，即 verify 打印的 head），收到: ${quote(value)}`,
  notObject: "请求体必须是 JSON 对象，如 {\"expectHead\":\"1523:5f0c…\"}，或不传请求体",
  unknownFields: (names: string[]) => `不支持的字段: ${names.join("、")}，支持: expectHead`,
  noQuery: (names: string[]) => `不支持的查询参数: ${names.join("、")}（该接口不接受查询参数）`,
} as const;

/** These routes take no query parameter: one sent anyway was meant for something, and is named rather than ignored. */
function queryProblem(request: Request): string[] {
  const names = [...new Set(new URL(request.url).searchParams.keys())];
  return names.length > 0 ? [START_MESSAGES.noQuery(names)] : [];
}

// The parsed body travels wrapped: a bare `null` body would make Elysia fall back to its own parser.
type OptionalBody = { json: unknown } | { json?: undefined; absent: true };

/** The body is optional: none at all (or an empty one) starts a verification without an expected head. */
async function readOptionalBody(request: Request, limit: number): Promise<OptionalBody> {
  if (request.body === null || request.headers.get("content-length") === "0") return { absent: true };
  try {
    return { json: await readJsonBody(request, limit) };
  } catch (error) {
    if (error instanceof HttpFault && error.message === MESSAGES.emptyBody) return { absent: true };
    throw error;
  }
}

/** The expected head from the body, or every problem with the body. */
function expectHeadOf(body: OptionalBody): { ok: true; head: Head | null } | { ok: false; message: string } {
  if ("absent" in body) return { ok: true, head: null };
  const json = body.json;
  if (typeof json !== "object" || json === null || Array.isArray(json)) return { ok: false, message: START_MESSAGES.notObject };
  const errors: string[] = [];
  const unknown = Object.keys(json).filter((name) => name !== "expectHead");
  if (unknown.length > 0) errors.push(START_MESSAGES.unknownFields(unknown));
  const given = (json as { expectHead?: unknown }).expectHead;
  const head = typeof given === "string" ? parseHead(given) : null;
  if (given !== undefined && given !== null && head === null) errors.push(START_MESSAGES.badExpectHead(given));
  return errors.length > 0 ? { ok: false, message: errors.join(ERROR_SEPARATOR) } : { ok: true, head };
}

/**
 * The verification jobs: `verify` run by the service itself, in the background, for an auditor in a browser.
 * Starting one changes nothing in the store, so it is declared open to the auditor role although it is a POST.
 */
export function auditRoutes(deps: AuditRouteDeps) {
  const headersOf = (request: Request) => ({ "x-request-id": requestIdOf(request) });
  return new Elysia({ name: "audit-routes", normalize: false })
    .post(
      VERIFICATIONS_PATH,
      ({ request, body }) => {
        const headers = headersOf(request);
        const expected = expectHeadOf(body as OptionalBody);
        const errors = [...queryProblem(request), ...(expected.ok ? [] : [expected.message])];
        if (errors.length > 0 || !expected.ok) return rejection(errors.join(ERROR_SEPARATOR), headers);
        const started = deps.jobs.start(expected.head);
        return started.ok ? success(started.job, headers) : rejection(started.message, headers);
      },
      { parse: ({ request }) => readOptionalBody(request, deps.bodyLimit), detail: { ...verificationStartDocs(), ...AUDITOR_ALLOWED } },
    )
    .get(
      `${VERIFICATIONS_PATH}/:id`,
      ({ request, params }) => {
        if (typeof params.id !== "string") throw new HttpFault(400, MESSAGES.badPath);
        const headers = headersOf(request);
        const errors = queryProblem(request);
        if (errors.length > 0) return rejection(errors.join(ERROR_SEPARATOR), headers);
        const job = deps.jobs.view(params.id.trim());
        return job ? success(job, headers) : rejection(VERIFICATION_MESSAGES.notFound(quote(params.id.trim())), headers);
      },
      { detail: verificationDocs() },
    );
}
