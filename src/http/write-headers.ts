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

/**
 * `If-Match` on the update route: the version the caller read (the ETag of the read route), as `"3"`, `3` or
 * `W/"3"` (our ETags are exact versions, so a weak one is taken at its word); undefined without the header.
 * `*` means "the opportunity exists" (RFC 9110), which an update requires anyway: no version condition, and
 * an unknown code is still 商机不存在. A list (`"3", "4"`, or `*` among tags) is refused: one opportunity has
 * one current version, so a client listing several has lost track of which one it read.
 */
export function readIfMatch(request: Request, errors: string[]): number | undefined {
  const header = request.headers.get("if-match");
  if (header === null || header.trim() === "*") return undefined;
  const match = VERSION_TAG.exec(header.trim());
  if (!match || Number(match[1]) < 1) {
    errors.push(`If-Match 必须是商机的一个版本号（读接口返回的 ETag，如 "3"）或 *（商机存在即可），收到: ${quote(header)}`);
    return undefined;
  }
  return Number(match[1]);
}

/**
 * The same request, however it was spelled: method, the route that ran (its pattern, so that `/update/` and
 * `/update` are one request, as they are one route), the body's canonical JSON and the version If-Match names
 * (`"3"` and `W/"3"` alike), whose answer differs: a key first sent with one version and again with another or
 * none is another request. Without a version (no If-Match, or `*`) the recipe is the one keys were stored with
 * before If-Match counted, so their retries still match.
 */
export function fingerprintOf(method: string, route: string, json: unknown, expectedVersion?: number): string {
  const condition = expectedVersion === undefined ? "" : `\nIf-Match: ${expectedVersion}`;
  return new Bun.CryptoHasher("sha256").update(`${method} ${route}\n${canonicalJson(json)}${condition}`).digest("hex");
}
