import { expect } from "bun:test";
import type { StoredEvent } from "../../events/stored-event";
import { TEST_SECRET, type BackendService } from "../support/test-service";

export { CONTRACT_EXAMPLE } from "../support/contract";

/** Helpers shared by the HTTP tests: raw requests, envelope checks and store snapshots. */

export const JSON_UTF8 = "application/json;charset=UTF-8";
export const UPDATE_PATH = "/api/opportunities/integration/update";
export const CREATE_PATH = "/api/opportunities/integration/create";
export const readPath = (code: string) => `/api/opportunities/${encodeURIComponent(code)}`;

/** Every field of the contract's tables (required code first, then the optional ones). */
export const CONTRACT_FIELDS = [
  "opportunityCode",
  "opportunityName",
  "projectLocation",
  "operatorName",
  "amount",
  "expectedCloseDate",
  "confidencePct",
  "stage",
  "opportunityType",
  "productType",
  "source",
  "salesExpansionId",
  "channelExpansionId",
  "preSalesId",
  "preSalesName",
  "competitorName",
  "archived",
  "pushedToOms",
  "omsPushTime",
  "status",
  "description",
] as const;

export interface SendOptions {
  /** A value sent as JSON.stringify(body). */
  body?: unknown;
  /** The exact body text (or bytes). */
  rawBody?: string | Uint8Array;
  /** The secret header; null leaves it out. Default: TEST_SECRET. */
  secret?: string | null;
  /** The content type; null leaves it out. Default: application/json. */
  contentType?: string | null;
  headers?: Record<string, string>;
}

/** Sends one request through app.handle (no socket), with full control over the headers. */
export function send(service: BackendService, method: string, path: string, options: SendOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  const secret = options.secret === undefined ? TEST_SECRET : options.secret;
  if (secret !== null) headers.set("x-internal-secret", secret);
  const contentType = options.contentType === undefined ? "application/json" : options.contentType;
  if (contentType !== null && (options.body !== undefined || options.rawBody !== undefined)) headers.set("content-type", contentType);
  const init: RequestInit = { method, headers };
  if (options.rawBody !== undefined) init.body = options.rawBody;
  else if (options.body !== undefined) init.body = JSON.stringify(options.body);
  return service.app.handle(new Request(`http://localhost${path}`, init));
}

export interface Answer {
  status: number;
  contentType: string | null;
  headers: Headers;
  text: string;
  json: { code: unknown; msg: unknown; data: unknown };
}

export async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let json: Answer["json"];
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`answer is not JSON (HTTP ${response.status}): ${text.slice(0, 200)}`);
  }
  return { status: response.status, contentType: response.headers.get("content-type"), headers: response.headers, text, json };
}

export async function call(service: BackendService, method: string, path: string, options: SendOptions = {}): Promise<Answer> {
  return answerOf(await send(service, method, path, options));
}

/** Asserts the failure envelope: given HTTP status, content type with charset, code "-1" as a string, data null. */
export function expectFailure(answer: Answer, status: number, msg?: string): void {
  expect({ status: answer.status, contentType: answer.contentType }).toEqual({ status, contentType: JSON_UTF8 });
  expect(Object.keys(answer.json)).toEqual(["code", "msg", "data"]);
  expect(answer.json.code).toBe("-1");
  expect(answer.json.data).toBeNull();
  expect(typeof answer.json.msg).toBe("string");
  if (msg !== undefined) expect(answer.json.msg).toBe(msg);
}

/** Asserts the success envelope and returns its data. */
export function expectSuccess(answer: Answer): unknown {
  expect({ status: answer.status, contentType: answer.contentType, code: answer.json.code, msg: answer.json.msg }).toEqual({
    status: 200,
    contentType: JSON_UTF8,
    code: "0",
    msg: "success",
  });
  return answer.json.data;
}

/** Creates an opportunity and returns its id. */
export async function createOpportunity(service: BackendService, fields: Record<string, unknown>): Promise<number> {
  const answer = await call(service, "POST", CREATE_PATH, {
    body: { opportunityName: "测试商机", endCustomerName: "某市大数据局", ...fields },
  });
  const id = expectSuccess(answer);
  expect(typeof id).toBe("number");
  return id as number;
}

export async function update(service: BackendService, body: unknown, options: Omit<SendOptions, "body"> = {}): Promise<Answer> {
  return call(service, "PUT", UPDATE_PATH, { ...options, body });
}

/** The current record of an opportunity as GET answers it. */
export async function readRecord(service: BackendService, code: string): Promise<Record<string, unknown>> {
  const data = expectSuccess(await call(service, "GET", readPath(code)));
  expect(data).toBeObject();
  return data as Record<string, unknown>;
}

export interface StoreSnapshot {
  events: number;
  opportunities: number;
  /** Every projection row, to see that nothing changed in place either. */
  rows: string;
}

/**
 * Counts and every projection row, read from the tables (either backend): a refused request changes none. One
 * statement (one round trip, one consistent read): the events' count beside each projection row, or beside one
 * row of NULLs when there is none. The property tests take two snapshots per request, and on PostgreSQL three
 * round trips each were most of their time.
 */
export async function snapshot(service: BackendService): Promise<StoreSnapshot> {
  const joined = await service.tables.select<Record<string, unknown>>(
    `SELECT counted.n AS ${EVENTS_COUNT}, o.* FROM (SELECT COUNT(*) AS n FROM events) counted LEFT JOIN opportunities o ON 1 = 1 ORDER BY o.id`,
  );
  const events = Number(joined[0]![EVENTS_COUNT]);
  const projection = joined.filter((row) => row.id !== null).map(({ [EVENTS_COUNT]: _count, ...row }) => row);
  const rows = JSON.stringify(projection, (_key, value) => (typeof value === "bigint" ? value.toString() : value));
  return { events, opportunities: projection.length, rows };
}
/** The column of snapshot's statement that holds the events' count: no column of the projection's. */
const EVENTS_COUNT = "snapshot_events_count";

/** Every event of one stream, in version order, as the port reads it. */
export async function streamOf(service: BackendService, code: string): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (;;) {
    const page = await service.storage.readStreamPage(code, events.length, 500);
    events.push(...page);
    if (page.length < 500) return events;
  }
}

/** The message split into the single reasons joined with "；". */
export const reasonsOf = (msg: unknown) => String(msg).split("；");
