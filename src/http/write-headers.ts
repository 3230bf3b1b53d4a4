import { canonicalJson } from "../../events/canonical-json";
import { quote } from "../field-rules";

/**
 * The optional headers of the write routes. Bad values are reported with the body's field errors, in the
 * same envelope, so a retrying client sees every problem at once.
 */
const KEY = /^[\x21-\x7e]{1,255}$/;
const VERSION_TAG = /^(?:W\/)?"?(\d{1,15})"?$/;

/** `Idempotency-Key`: 1-255 visible ASCII characters (a UUID is typical). */
export function readIdempotencyKey(request: Request, errors: string[]): string | undefined {
  const key = request.headers.get("idempotency-key");
  if (key === null) return undefined;
  if (!KEY.test(key)) {
    errors.push(`Idempotency-Key 必须是 1 到 255 个可见 ASCII 字符（如 UUID），收到: ${quote(key)}`);
    return undefined;
  }
  return key;
}

/** `If-Match`: the version the caller read (the ETag of the read route), as `"3"`, `3` or `W/"3"`. */
export function readIfMatch(request: Request, errors: string[]): number | undefined {
  const header = request.headers.get("if-match");
  if (header === null) return undefined;
  const match = VERSION_TAG.exec(header.trim());
  if (!match || Number(match[1]) < 1) {
    errors.push(`If-Match 必须是商机的版本号（读接口返回的 ETag，如 "3"），收到: ${quote(header)}`);
    return undefined;
  }
  return Number(match[1]);
}

/**
 * The same request, however it was spelled: method, the route that ran (its pattern, so that `/update/` and
 * `/update` are one request, as they are one route) and the body's canonical JSON.
 */
export function fingerprintOf(method: string, route: string, json: unknown): string {
  return new Bun.CryptoHasher("sha256").update(`${method} ${route}\n${canonicalJson(json)}`).digest("hex");
}
