/**
 * The request target as the router sees it. Elysia is configured (`handler.standardHostname: false`, see app.ts)
 * to take the path from the first "/" after `http://`, and `pathOf` below is that same rule, so the request log,
 * the 405 answer and the idempotency fingerprint all name the path the router used. That rule is right only when
 * the authority is a plain host: Bun builds `request.url` from the Host header, and a Host holding `@ ? # /` or a
 * space gives a URL whose path starts elsewhere (or a bare "/path" with no scheme at all). Such a request is
 * refused before anything else looks at it.
 */
const SCHEME = "http://";
const PATH_START = SCHEME.length;
// A DNS name (letters, digits, "-", "_" for container names), an IPv4 address, or a bracketed IPv6 address;
// then an optional port.
const AUTHORITY = /^(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Whether the URL is `http://` + a plain host[:port] + a path, so that the router finds the real path. */
export function hasRoutableTarget(url: string): boolean {
  if (!url.startsWith(SCHEME)) return false;
  const slash = url.indexOf("/", PATH_START);
  const authority = slash === -1 ? url.slice(PATH_START) : url.slice(PATH_START, slash);
  return AUTHORITY.test(authority);
}

/** The path of a request without its query, by the router's own rule (no URL object per request). */
export function pathOf(request: Request): string {
  const url = request.url;
  const start = url.indexOf("/", PATH_START);
  if (start === -1) return "/";
  const end = url.indexOf("?", start);
  return end === -1 ? url.slice(start) : url.slice(start, end);
}
