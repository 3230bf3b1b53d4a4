import type { Identity, SecretVerifier } from "../secrets";
import type { AuthThrottle } from "./auth-throttle";
import { HttpFault, MESSAGES } from "./envelope";

/**
 * What the service knows of a request before its body is read: the client behind the secret and the request
 * id. Kept per Request object so that the secret itself is matched once and never travels further.
 */
const identities = new WeakMap<Request, Identity>();
const requestIds = new WeakMap<Request, string>();

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** The path of a request without its query, straight from the URL text (no URL object per request). */
export function pathOf(request: Request): string {
  const url = request.url;
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const end = url.indexOf("?", start);
  return end === -1 ? url.slice(start) : url.slice(start, end);
}

/** The caller's `X-Request-Id` when it is sane, else a new one; the same value for the whole request. */
export function requestIdOf(request: Request): string {
  let id = requestIds.get(request);
  if (id === undefined) {
    const given = request.headers.get("x-request-id");
    id = given !== null && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    requestIds.set(request, id);
  }
  return id;
}

/**
 * Paths that answer without a secret: health checks, the docs, and unknown paths outside /api (a 404 tells
 * nothing). The API and the metrics need one.
 */
export const isPublicPath = (path: string) => !path.startsWith("/api/") && path !== "/metrics";

/** Prometheus sends credentials as `Authorization: Bearer …`; only the metrics route takes them that way. */
function secretOf(request: Request, path: string): string | null {
  const header = request.headers.get("x-internal-secret");
  if (header !== null || path !== "/metrics") return header;
  const authorization = request.headers.get("authorization");
  return authorization?.startsWith("Bearer ") ? authorization.slice(7) : null;
}

/**
 * Runs before routing and body parsing, so an unauthenticated caller gets 401 and never a validation message,
 * whatever its body holds; an auditor's secret on anything but a read gets 403 before a body is even read.
 */
export function authenticate(request: Request, path: string, verifier: SecretVerifier, throttle?: AuthThrottle): void {
  if (isPublicPath(path)) return;
  // The peer address is looked up only while some address is being counted, or on a failure.
  const counting = throttle?.counting ?? false;
  const wait = counting ? throttle!.lockedFor(clientAddressOf(request)) : 0;
  if (wait > 0) {
    const seconds = Math.ceil(wait / 1000);
    throw new HttpFault(429, MESSAGES.tooManyFailures(seconds), { "retry-after": String(seconds) });
  }
  const identity = verifier.identify(secretOf(request, path));
  if (identity === null) {
    throttle?.noteFailure(clientAddressOf(request));
    throw new HttpFault(401, MESSAGES.unauthorized);
  }
  if (counting) throttle!.noteSuccess(clientAddressOf(request));
  if (identity.role === "auditor" && request.method !== "GET" && request.method !== "HEAD") {
    throw new HttpFault(403, MESSAGES.readOnlyRole(identity.name));
  }
  identities.set(request, identity);
}

type Address = string | undefined | (() => string | undefined);
const addresses = new WeakMap<Request, Address>();

/**
 * The peer address of a request as the server saw it, or a way to get it when it is asked for (looking it
 * up costs time on every request, and it is only needed when authentication fails).
 */
export function noteClientAddress(request: Request, address: Address): void {
  if (address) addresses.set(request, address);
}

/** The peer address noted for a request; "unknown" under app.handle. */
export function clientAddressOf(request: Request): string {
  const noted = addresses.get(request);
  const address = typeof noted === "function" ? noted() : noted;
  return address ?? "unknown";
}

const opportunityCodes = new WeakMap<Request, string>();

/** Which opportunity a request is about, for its log line (never used for a decision). */
export function noteOpportunityCode(request: Request, code: unknown): void {
  if (typeof code === "string" && code.trim() !== "") opportunityCodes.set(request, code.trim().slice(0, 64));
}

/** What the request log says about the caller and the opportunity; the secret is not among it. */
export function requestFacts(request: Request): { actor: string | null; opportunityCode: string | null } {
  return { actor: identities.get(request)?.name ?? null, opportunityCode: opportunityCodes.get(request) ?? null };
}

/** The client name of an authenticated request. */
export function actorOf(request: Request): string {
  const identity = identities.get(request);
  if (identity === undefined) throw new Error("request was not authenticated");
  return identity.name;
}
