/**
 * Who may call each route. Default deny: a route needs a secret unless its own definition declares it public
 * with `detail: PUBLIC_ROUTE` (OpenAPI's own "no credentials" marker, so the docs say the same thing). Access is
 * looked up for the route the router will run, by the path the router routes on, never by a parse of our own.
 * An auditor's (read-only) secret may call GET routes only, unless a route declares `detail: AUDITOR_ALLOWED`.
 */

/** Put in a route's `detail`: this route answers without a secret. */
export const PUBLIC_ROUTE = { security: [] as Record<string, string[]>[] };

/** The security scheme of `Authorization: Bearer <secret>`, which only the routes that declare it accept. */
export const BEARER_SCHEME = "MetricsBearer";

/**
 * Put in the `detail` of a route that is not a GET but writes nothing (it starts a read-only job): the auditor
 * role may call it too. An OpenAPI extension, so the document says it as well. Only the route's own method is
 * opened: another method on the same path is still refused to auditors.
 */
export const AUDITOR_ALLOWED = { "x-auditor-allowed": true } as const;

export interface RouteAccess {
  /** Answers without a secret. */
  public: boolean;
  /** Takes the secret as `Authorization: Bearer …` too (Prometheus scrapers send it that way). */
  bearer: boolean;
  /** The methods other than GET and HEAD that an auditor's secret may call here (declared AUDITOR_ALLOWED). */
  auditorMethods: readonly string[];
}

/** What every path that is not a declared public, bearer or auditor-allowed route gets: a secret in X-Internal-Secret. */
export const SECRET_ONLY: RouteAccess = Object.freeze({ public: false, bearer: false, auditorMethods: [] });

const PUBLIC_ACCESS: RouteAccess = Object.freeze({ public: true, bearer: false, auditorMethods: [] });

interface RouteEntry {
  method: string;
  path: string;
  hooks?: { detail?: { security?: readonly Record<string, unknown>[]; "x-auditor-allowed"?: unknown } };
}

function declaredAccess(route: RouteEntry): RouteAccess {
  const detail = route.hooks?.detail;
  const security = detail?.security;
  const auditorMethods = detail?.["x-auditor-allowed"] === true ? [route.method] : [];
  if (security === undefined && auditorMethods.length === 0) return SECRET_ONLY;
  return { public: security?.length === 0, bearer: security?.some((scheme) => BEARER_SCHEME in scheme) ?? false, auditorMethods };
}

/** Two routes on one path: the later one's public and bearer declarations (as before), both routes' auditor methods. */
const merged = (earlier: RouteAccess | undefined, later: RouteAccess): RouteAccess =>
  earlier === undefined || earlier.auditorMethods.length === 0 ? later : { ...later, auditorMethods: [...earlier.auditorMethods, ...later.auditorMethods] };

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
      this.byRoute.set(route.path, merged(this.byRoute.get(route.path), access));
      if (route.path.includes(":") || route.path.includes("*")) continue;
      for (const path of [route.path, route.path.endsWith("/") ? route.path.slice(0, -1) : `${route.path}/`]) this.byPath.set(path, merged(this.byPath.get(path), access));
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
