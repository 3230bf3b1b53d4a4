/**
 * The app's routes as patterns, to name the route of any request: for 405 (a path known under other methods)
 * and as a bounded label for logs and metrics (the pattern, never the raw path with its opportunity code).
 */
export const UNMATCHED = "unmatched";

interface RoutePattern {
  method: string;
  path: string;
  pattern: RegExp;
}

const toPattern = (path: string) =>
  new RegExp(`^${path.split("/").map((part) => (part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("/")}/?$`);

export class RouteTable {
  private readonly routes: RoutePattern[];

  constructor(routes: readonly { method: string; path: string }[]) {
    // Static paths first, so /api/opportunities/integration/update is not taken for /:opportunityCode.
    this.routes = routes
      .map((route) => ({ method: route.method, path: route.path, pattern: toPattern(route.path) }))
      .sort((a, b) => Number(a.path.includes(":")) - Number(b.path.includes(":")));
  }

  /** The route pattern a request matches, or `unmatched`. */
  routeOf(method: string, path: string): string {
    return this.routes.find((route) => route.method === method && route.pattern.test(path))?.path ?? UNMATCHED;
  }

  /** The methods a path answers to, whichever was asked. */
  methodsFor(path: string): string[] {
    return [...new Set(this.routes.filter((route) => route.pattern.test(path)).map((route) => route.method))];
  }
}
