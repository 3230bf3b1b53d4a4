import type { AuthThrottle } from "./auth-throttle";
import { HttpFault, MESSAGES } from "./envelope";
import { assertRoleMayCall, authenticate, isAuthenticated, requestIdOf } from "./request-context";
import type { AccessTable } from "./route-access";
import { hasRoutableTarget } from "./request-target";
import type { SecretVerifier } from "../secrets";
import type { TrustedProxies } from "./trusted-proxies";

export interface GateDeps {
  /** The access declared by the app's routes; asked only once every route is registered. */
  accessTable: () => AccessTable;
  verifier: () => SecretVerifier;
  throttle?: AuthThrottle;
  proxies?: TrustedProxies;
}

/**
 * The app's two access hooks. `beforeRouting` runs before the router and any body parsing, so an
 * unauthenticated caller learns nothing else about its request; `forRouteThatRuns` takes a second look at the
 * route the router actually matched, so that should the router ever run a route for a path the access table did
 * not know as that route's, the route's own declaration still holds.
 */
export function accessGate(deps: GateDeps) {
  return {
    /** `path` is the very string the router is about to match. */
    beforeRouting(request: Request, path: string): Response | undefined {
      const headers = { "x-request-id": requestIdOf(request) };
      if (!hasRoutableTarget(request.url)) return new HttpFault(400, MESSAGES.badHost).toResponse(headers);
      try {
        authenticate(request, deps.accessTable().forPath(path), { verifier: deps.verifier(), throttle: deps.throttle, proxies: deps.proxies });
      } catch (error) {
        if (error instanceof HttpFault) return error.toResponse(headers);
        throw error;
      }
      return undefined;
    },

    forRouteThatRuns(request: Request, route: string): void {
      const access = deps.accessTable().forRoute(route);
      if (!isAuthenticated(request) && !access.public) throw new HttpFault(401, MESSAGES.unauthorized);
      assertRoleMayCall(request, access);
    },
  };
}
