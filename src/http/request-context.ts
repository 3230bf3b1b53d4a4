import type { Identity, SecretVerifier } from "../secrets";
import type { AuthThrottle } from "./auth-throttle";
import { HttpFault, MESSAGES } from "./envelope";
import type { RouteAccess } from "./route-access";
import { TrustedProxies } from "./trusted-proxies";

/**
 * What the service knows of a request before its body is read: the client behind the secret and the request
 * id. Kept per Request object so that the secret itself is matched once and never travels further.
 */
const identities = new WeakMap<Request, Identity>();
const requestIds = new WeakMap<Request, string>();

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

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

/** Prometheus sends credentials as `Authorization: Bearer …`; only routes that declare it take them that way. */
function secretOf(request: Request, access: RouteAccess): string | null {
  const header = request.headers.get("x-internal-secret");
  if (header !== null || !access.bearer) return header;
  const authorization = request.headers.get("authorization");
  return authorization?.startsWith("Bearer ") ? authorization.slice(7) : null;
}

export interface Gatekeepers {
  verifier: SecretVerifier;
  throttle?: AuthThrottle;
  proxies?: TrustedProxies;
}

/**
 * Runs before routing and body parsing, with the access declared by the route the router will run, so an
 * unauthenticated caller gets 401 and never a validation message, whatever its body holds; an auditor's secret
 * on anything but a read gets 403 before a body is even read.
 */
export function authenticate(request: Request, access: RouteAccess, { verifier, throttle, proxies }: Gatekeepers): void {
  if (access.public) return;
  // The client address is looked up only while some address is being counted, or on a failure.
  const counting = throttle?.counting ?? false;
  const wait = counting ? throttle!.lockedFor(clientAddressOf(request, proxies)) : 0;
  if (wait > 0) {
    const seconds = Math.ceil(wait / 1000);
    throw new HttpFault(429, MESSAGES.tooManyFailures(seconds), { "retry-after": String(seconds) });
  }
  const identity = verifier.identify(secretOf(request, access));
  if (identity === null) {
    throttle?.noteFailure(clientAddressOf(request, proxies));
    throw new HttpFault(401, MESSAGES.unauthorized);
  }
  refuseRoleUnlessAllowed(identity, request.method, access);
  identities.set(request, identity);
}

/**
 * An auditor's secret (read only) calls GET and HEAD, and what a route declares AUDITOR_ALLOWED for its method;
 * anything else is a 403 before a body is even read.
 */
function refuseRoleUnlessAllowed(identity: Identity, method: string, access: RouteAccess): void {
  if (identity.role !== "auditor" || method === "GET" || method === "HEAD" || access.auditorMethods.includes(method)) return;
  throw new HttpFault(403, MESSAGES.readOnlyRole(identity.name));
}

/** The same check for the route that runs (access-gate.ts), once authenticate let the request through. */
export function assertRoleMayCall(request: Request, access: RouteAccess): void {
  const identity = identities.get(request);
  if (identity) refuseRoleUnlessAllowed(identity, request.method, access);
}

/** Whether `authenticate` let this request through with a secret. */
export const isAuthenticated = (request: Request) => identities.has(request);

type Address = string | undefined | (() => string | undefined);
const addresses = new WeakMap<Request, Address>();

/**
 * The peer address of a request as the server saw it, or a way to get it when it is asked for (looking it
 * up costs time on every request, and it is only needed when authentication fails).
 */
export function noteClientAddress(request: Request, address: Address): void {
  if (address) addresses.set(request, address);
}

/**
 * The client address of a request: the peer as noted ("unknown" under app.handle without one), or behind a
 * trusted proxy the address it forwarded for.
 */
export function clientAddressOf(request: Request, proxies: TrustedProxies = TrustedProxies.NONE): string {
  const noted = addresses.get(request);
  const peer = (typeof noted === "function" ? noted() : noted) ?? "unknown";
  return proxies.size === 0 ? peer : proxies.clientAddress(peer, request.headers.get("x-forwarded-for"));
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
