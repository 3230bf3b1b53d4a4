import { session } from "./session";

/**
 * The HTTP API as the page calls it: the secret as X-Internal-Secret (never in a URL), the {code, msg, data}
 * envelope unwrapped. A business refusal (HTTP 200, code "-1") is an answer the page shows; a protocol fault
 * (401, 429, 5xx, no connection) is thrown as an ApiFault with the service's own Chinese message.
 */

export type Answer<T> = { ok: true; data: T } | { ok: false; message: string };

export class ApiFault extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Envelope {
  code?: unknown;
  msg?: unknown;
  data?: unknown;
}

/**
 * JSON with integers beyond 2^53 kept exact (as bigints): the service's snowflake IDs would otherwise be shown
 * rounded. Where the browser does not hand the reviver the number's source text, they are read as usual.
 */
export function parseExactJson(text: string): unknown {
  return JSON.parse(text, function (this: unknown, _key: string, value: unknown, context?: { source?: string }) {
    if (typeof value === "number" && !Number.isSafeInteger(value) && context?.source && /^-?\d+$/.test(context.source)) return BigInt(context.source);
    return value;
  } as (key: string, value: unknown) => unknown);
}

/** Told of every 401: the secret no longer works (rotated, or mistyped at sign-in). */
let onUnauthorized: (message: string) => void = () => {};
export const whenUnauthorized = (handler: (message: string) => void) => (onUnauthorized = handler);

export async function call<T>(method: "GET" | "POST", path: string, options: { body?: unknown; secret?: string } = {}): Promise<Answer<T>> {
  const secret = options.secret ?? session.secret() ?? "";
  const headers: Record<string, string> = { "X-Internal-Secret": secret };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), cache: "no-store" });
  } catch {
    throw new ApiFault(0, "无法连接服务，请检查网络后重试");
  }
  let envelope: Envelope;
  try {
    envelope = parseExactJson(await response.text()) as Envelope;
  } catch {
    throw new ApiFault(response.status, `服务返回了无法识别的内容（HTTP ${response.status}）`);
  }
  const message = typeof envelope.msg === "string" ? envelope.msg : `HTTP ${response.status}`;
  if (response.status === 401) {
    onUnauthorized(message);
    throw new ApiFault(401, message);
  }
  if (response.status !== 200) throw new ApiFault(response.status, message);
  return envelope.code === "0" ? { ok: true, data: envelope.data as T } : { ok: false, message };
}

/** The text of anything a call threw, for a status line. */
export const faultText = (error: unknown) => (error instanceof ApiFault ? error.message : `出错了：${(error as Error)?.message ?? String(error)}`);
