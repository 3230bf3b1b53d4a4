import { afterAll, describe, expect, test } from "bun:test";
import { CREATE_PATH, UPDATE_PATH } from "./http-client";
import { startBackendOpsService, TEST_SECRET } from "../ops/ops-service";

// Default deny, for the route that actually runs. A Host of 1-3 characters once made the router skip the start
// of the path (`Host: a` + `/xxx/api/events` ran /api/events) while the secret check looked at the real path
// and found it outside /api; a Host holding `@ ? # /` gave a URL with no scheme at all. Every route registered
// in the app is reached here with odd Hosts, prefixes and trailing slashes: without a secret each one answers 401
// unless its own definition declares it public, so a route added later cannot be left open by mistake.

const service = await startBackendOpsService();
afterAll(() => service.dispose());

const DECLARED_PUBLIC = ["/healthz", "/readyz", "/swagger", "/swagger/json", "/swagger/assets/scalar.js", "/console", "/console/assets/console.js", "/console/assets/console.css"];
const HOSTS = ["localhost", "a", "ab", "abc", "a.b", "[::1]", "localhost:8080"];
const PREFIXES = ["", "/x", "/xx", "/xxx", "/api"];
const SLASHES = ["", "/", "//"];

const routes = service.app.routes.map((route) => ({ method: route.method, path: route.path }));
const concrete = (path: string) => path.replace(/:[^/]+/g, "OPP-ACCESS-1");

async function answer(method: string, url: string, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers };
  if (method === "PUT" || method === "POST") {
    init.body = JSON.stringify({ opportunityCode: "OPP-ACCESS-1", stage: "won" });
    init.headers = { ...headers, "content-type": "application/json" };
  }
  const response = await service.handle(new Request(url, init));
  // A live event stream (GET /api/events/stream) never ends by itself: its status is what counts here.
  if (response.headers.get("content-type")?.startsWith("text/event-stream")) {
    await response.body?.cancel();
    return { status: response.status, body: "" };
  }
  return { status: response.status, body: method === "HEAD" ? null : await response.text() };
}

describe("every registered route", () => {
  test("the routes declared public are exactly the health, docs and console routes", () => {
    expect(service.app.accessTable().publicRoutes().sort()).toEqual([...DECLARED_PUBLIC].sort());
    expect(routes.length).toBeGreaterThan(DECLARED_PUBLIC.length + 5);
  });

  test.each(routes.map((route) => [`${route.method} ${route.path}`, route] as const))(
    "%s: 401 without a secret under every Host, prefix and trailing slash, unless declared public",
    async (_name, route) => {
      const isPublic = DECLARED_PUBLIC.includes(route.path);
      const methods = route.method === "GET" ? ["GET", "HEAD"] : [route.method];
      const wrong: string[] = [];
      for (const method of methods)
        for (const host of HOSTS)
          for (const prefix of PREFIXES)
            for (const slash of SLASHES) {
              const path = `${prefix}${concrete(route.path)}${slash}`;
              const { status, body } = await answer(method, `http://${host}${path}`);
              // Only the route itself, as the router matches it (with or without one trailing slash), is public.
              const expected = isPublic && prefix === "" && slash !== "//" ? 200 : 401;
              if (status !== expected) wrong.push(`${method} Host ${host} ${path}: ${status} (expected ${expected}) ${body?.slice(0, 80)}`);
              if (expected === 401 && method !== "HEAD" && !body!.includes("内部接口鉴权失败")) wrong.push(`${method} Host ${host} ${path}: body ${body}`);
            }
      expect(wrong).toEqual([]);
    },
  );

  test.each(routes.filter((route) => !DECLARED_PUBLIC.includes(route.path)).map((route) => [`${route.method} ${route.path}`, route] as const))(
    "%s: with the secret it gets past authentication (the test above can tell the two apart)",
    async (_name, route) => {
      const { status } = await answer(route.method, `http://a${concrete(route.path)}`, { "x-internal-secret": TEST_SECRET });
      expect(status).not.toBe(401);
    },
  );
});

describe("a Host that cannot form a URL", () => {
  test.each([
    ["userinfo (a@b)", "http://a@b/metrics"],
    ["userinfo to an API route", "http://x@localhost/api/stages"],
    ["a character no host name has", "http://a!b/api/events"],
  ])("%s: 400 in the envelope, before anything else", async (_name, url) => {
    const response = await service.handle(new Request(url, { headers: { "x-internal-secret": TEST_SECRET } }));
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/json;charset=UTF-8");
    expect(await response.json()).toEqual({ code: "-1", msg: "请求的 Host 头无效：须为主机名或 IP 地址，可带端口", data: null });
  });

  test("a write with such a Host is refused with 400 (not a 500) and writes nothing", async () => {
    const before = await service.storage.head();
    const response = await service.handle(
      new Request("http://a@b/api/opportunities/integration/create", {
        method: "POST",
        headers: { "x-internal-secret": TEST_SECRET, "content-type": "application/json" },
        body: JSON.stringify({ opportunityCode: "OPP-HOST-1", opportunityName: "n", endCustomerName: "c" }),
      }),
    );
    expect(response.status).toBe(400);
    expect(await service.storage.head()).toEqual(before);
  });
});

describe("the metrics route", () => {
  test("GET /metrics/ (trailing slash) needs the secret like /metrics, and takes it as a Bearer token too", async () => {
    for (const path of ["/metrics", "/metrics/"]) {
      expect((await answer("GET", `http://localhost${path}`)).status).toBe(401);
      expect((await answer("GET", `http://localhost${path}`, { authorization: `Bearer ${TEST_SECRET}` })).status).toBe(200);
    }
  });

  test("a Bearer token is taken only where the route declares it", async () => {
    const { status } = await answer("GET", "http://localhost/api/stages", { authorization: `Bearer ${TEST_SECRET}` });
    expect(status).toBe(401);
  });
});

describe("the idempotency fingerprint names the route that ran", () => {
  test("a retry of /update with a trailing slash is the same request: replayed, not a key reused for another", async () => {
    const headers = { "x-internal-secret": TEST_SECRET, "content-type": "application/json", "idempotency-key": "slash-retry-1" };
    const create = await service.handle(
      new Request(`http://localhost${CREATE_PATH}`, { method: "POST", headers: { "x-internal-secret": TEST_SECRET, "content-type": "application/json" }, body: JSON.stringify({ opportunityCode: "OPP-SLASH-1", opportunityName: "n", endCustomerName: "c" }) }),
    );
    expect(((await create.json()) as { code: string }).code).toBe("0");
    const body = JSON.stringify({ opportunityCode: "OPP-SLASH-1", amount: 1234 });
    const first = await service.handle(new Request(`http://localhost${UPDATE_PATH}`, { method: "PUT", headers, body }));
    const retry = await service.handle(new Request(`http://localhost${UPDATE_PATH}/`, { method: "PUT", headers, body }));
    expect((await first.json()) as object).toMatchObject({ code: "0" });
    expect({ body: await retry.json(), replayed: retry.headers.get("idempotent-replayed") }).toMatchObject({ body: { code: "0" }, replayed: "true" });
  });
});
