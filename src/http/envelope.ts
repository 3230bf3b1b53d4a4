import { stringifyExactJson } from "../../events/exact-json";

/**
 * Every answer, errors included, is this envelope. The charset is explicit because Spring's RestTemplate
 * reads a JSON error body without one as ISO-8859-1, and the Chinese message arrives garbled.
 */
export const JSON_UTF8 = "application/json;charset=UTF-8";

export interface Envelope {
  code: "0" | "-1";
  msg: string;
  data: unknown;
}

// The envelope code of each answer, for request logs and metrics, without reading the body back.
const envelopeCodes = new WeakMap<Response, Envelope["code"]>();

export function envelopeResponse(status: number, envelope: Envelope, headers: Record<string, string> = {}): Response {
  const response = new Response(stringifyExactJson(envelope), { status, headers: { ...headers, "content-type": JSON_UTF8 } });
  envelopeCodes.set(response, envelope.code);
  return response;
}

/** "0" or "-1" for an envelope answer; undefined for anything else (docs, metrics). */
export const envelopeCodeOf = (response: Response) => envelopeCodes.get(response);

export const success = (data: unknown, headers?: Record<string, string>) =>
  envelopeResponse(200, { code: "0", msg: "success", data }, headers);

/** A business outcome the caller must read (validation, unknown opportunity, conflict): HTTP 200, code -1. */
export const rejection = (msg: string, headers?: Record<string, string>) =>
  envelopeResponse(200, { code: "-1", msg, data: null }, headers);

/** A protocol fault with its own HTTP status, still answered in the envelope. */
export class HttpFault extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpFault";
  }

  toResponse(extraHeaders: Record<string, string> = {}): Response {
    return envelopeResponse(this.status, { code: "-1", msg: this.message, data: null }, { ...this.headers, ...extraHeaders });
  }
}

export const MESSAGES = {
  unauthorized: "内部接口鉴权失败",
  tooManyFailures: (seconds: number) => `鉴权失败次数过多，请 ${seconds} 秒后重试`,
  readOnlyRole: (client: string) => `密钥 ${client} 为只读审计（auditor）角色，不能调用写接口`,
  notJson: "请求体不是合法的 JSON",
  badHost: "请求的 Host 头无效：须为主机名或 IP 地址，可带端口",
  badPath: "请求路径不是合法的 URL 编码（% 后须为两位十六进制数，且为 UTF-8）",
  emptyBody: "请求体不能为空",
  notUtf8: "请求体不是合法的 UTF-8 文本",
  unsupportedMediaType: "Content-Type 必须是 application/json",
  tooLarge: (limit: number) => `请求体过大，不能超过 ${Math.floor(limit / 1024)} KiB`,
  notFound: (method: string, path: string) => `接口不存在: ${method} ${path}`,
  methodNotAllowed: (method: string, allowed: string) => `不支持的请求方式: ${method}，该接口支持 ${allowed}`,
  internal: "服务器内部错误，请稍后重试",
  notReady: (reason: string) => `服务未就绪: ${reason}`,
} as const;
