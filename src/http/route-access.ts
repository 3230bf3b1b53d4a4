/**
 * Who may call each route. Default deny: a route needs a secret unless its own definition declares it public
 * with `detail: PUBLIC_ROUTE` (OpenAPI's own "no credentials" marker, so the docs say the same thing). Access is
 * looked up for the route the router will run, by the path the router routes on, never by a parse of our own.
 */

/** Put in a route's `detail`: this route answers without a secret. */
export const PUBLIC_ROUTE = { security: [] as Record<string, string[]>[] };

/** The security scheme of `Authorization: Bearer <secret>`, which only the routes that declare it accept. */
export const BEARER_SCHEME = "MetricsBearer";

export interface RouteAccess {
  /** Answers without a secret. */
  public: boolean;
  /** Takes the secret as `Authorization: Bearer …` too (Prometheus scrapers send it that way). */
  bearer: boolean;
}

/** What every path that is not a declared public or bearer route gets: a secret in X-Internal-Secret. */
export const SECRET_ONLY: RouteAccess = Object.freeze({ public: false, bearer: false });

const PUBLIC_ACCESS: RouteAccess = Object.freeze({ public: true, bearer: false });

interface RouteEntry {
  method: string;
  path: string;
  hooks?: { detail?: { security?: readonly Record<string, unknown>[] } };
}

function declaredAccess(route: RouteEntry): RouteAccess {
  const security = route.hooks?.detail?.security;
  if (security === undefined) return SECRET_ONLY;
  return { public: security.length === 0, bearer: security.some((scheme) => BEARER_SCHEME in scheme) };
}

export class AccessTable {
  // Keyed by the route's path and, as the router also matches it, the same path with a trailing slash. Only
  // static paths can be public: a path with parameters is looked up nowhere here and so needs a secret.
  private readonly byPath = new Map<string, RouteAccess>();
  private readonly byRoute = new Map<string, RouteAccess>();

  /** `alsoPublic`: routes declared public beside their definition where `detail` cannot say it (the docs). */
  constructor(routes: readonly RouteEntry[], alsoPublic: readonly string[] = []) {
    for (const route of routes) {
      const access = alsoPublic.includes(route.path) ? PUBLIC_ACCESS : declaredAccess(route);
      if (access === SECRET_ONLY) continue;
      this.byRoute.set(route.path, access);
      if (route.path.includes(":") || route.path.includes("*")) continue;
      this.byPath.set(route.path, access);
      this.byPath.set(route.path.endsWith("/") ? route.path.slice(0, -1) : `${route.path}/`, access);
    }
  }

  /** Access for a request, by the path the router will route it on (before the route is known). */
  forPath(path: string): RouteAccess {
    return this.byPath.get(path) ?? SECRET_ONLY;
  }

  /** Access for the route that runs, by its pattern. */
  forRoute(pattern: string): RouteAccess {
    return this.byRoute.get(pattern) ?? SECRET_ONLY;
  }

  /** The patterns declared public, for the tests that check every other route is closed. */
  publicRoutes(): string[] {
    return [...this.byRoute].filter(([, access]) => access.public).map(([path]) => path);
  }
}
