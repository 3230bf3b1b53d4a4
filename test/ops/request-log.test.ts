import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { instrument } from "../../src/http/instrument";
import { RouteTable } from "../../src/http/route-table";
import { log, setLogLevel } from "../../src/log";
import {
  AUDITOR_SECRET,
  captureStdout,
  createBody,
  CREATE_PATH,
  OTHER_CLIENT_SECRET,
  READ_ROUTE,
  startBackendOpsService,
  TEST_SECRET,
  UPDATE_PATH,
  type BackendOpsService,
  type RequestOptions,
} from "./ops-service";

// The request log: one JSON line per request on stdout, with the request id the caller sent (or a new one)
// echoed in X-Request-Id; never a secret; health and metrics polls only at debug level.

const WRONG_SECRET = "wrong-secret-Zq8v1xW3yT5uR7oP";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  setLogLevel("info");
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A service of this test, disposed after it; `untilDisposed`: one the caller disposes of instead. */
async function service(untilDisposed = false): Promise<BackendOpsService> {
  const started = await startBackendOpsService();
  if (!untilDisposed) cleanups.push(() => started.dispose());
  return started;
}

/** A service with one opportunity, created without capturing (its log line is not part of the test). */
async function serviceWith(code: string, untilDisposed = false): Promise<BackendOpsService> {
  const svc = await service(untilDisposed);
  setLogLevel("error");
  const created = await svc.request("POST", CREATE_PATH, { body: createBody(code) });
  setLogLevel("info");
  expect(created.status).toBe(200);
  return svc;
}

const requestLines = (lines: Record<string, unknown>[]) => lines.filter((line) => line.msg === "request");

describe("one JSON line per request", () => {
  test("with time, level, request id, method, route, status, code, duration, actor and opportunity code", async () => {
    const svc = await serviceWith("OPP-LOG-001");
    const before = Date.now();
    const { result: response, lines } = await captureStdout(() =>
      svc.request("PUT", UPDATE_PATH, { body: { opportunityCode: " OPP-LOG-001 ", stage: "won" }, headers: { "x-request-id": "req-log-1" } }),
    );
    expect(response.status).toBe(200);
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(Object.keys(line).sort()).toEqual(["actor", "code", "durationMs", "level", "method", "msg", "opportunityCode", "requestId", "route", "status", "time"]);
    expect(line).toMatchObject({
      level: "info",
      msg: "request",
      requestId: "req-log-1",
      method: "PUT",
      route: UPDATE_PATH,
      status: 200,
      code: "0",
      actor: "oms",
      opportunityCode: "OPP-LOG-001",
    });
    expect(line.time).toMatch(ISO_UTC);
    const time = Date.parse(line.time as string);
    expect(time).toBeGreaterThanOrEqual(before - 1);
    expect(time).toBeLessThanOrEqual(Date.now() + 1);
    expect(typeof line.durationMs).toBe("number");
    expect(line.durationMs as number).toBeGreaterThanOrEqual(0);
    expect(line.durationMs as number).toBeLessThan(10_000);
  });

  test("each client is logged by its name, and a failed authentication has no actor", async () => {
    const svc = await serviceWith("OPP-LOG-002");
    const { lines } = await captureStdout(async () => {
      await svc.request("GET", "/api/opportunities/OPP-LOG-002", { secret: OTHER_CLIENT_SECRET });
      await svc.request("GET", "/api/opportunities/OPP-LOG-002", { secret: AUDITOR_SECRET });
      await svc.request("GET", "/api/opportunities/OPP-LOG-002", { secret: WRONG_SECRET });
    });
    expect(lines.map((line) => [line.actor, line.status, line.code, line.route, line.opportunityCode])).toEqual([
      ["bidding", 200, "0", READ_ROUTE, "OPP-LOG-002"],
      ["audit-firm", 200, "0", READ_ROUTE, "OPP-LOG-002"],
      [null, 401, "-1", READ_ROUTE, null],
    ]);
  });

  test("a rejected body still names its opportunity; a business failure is status 200, code -1", async () => {
    const svc = await service();
    const { lines } = await captureStdout(() => svc.request("PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-NOT-THERE", stage: "won" } }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 200, code: "-1", route: UPDATE_PATH, opportunityCode: "OPP-NOT-THERE", actor: "oms" });
  });

  test.each([
    ["not JSON", 400, { rawBody: "{not json" }],
    ["too large", 413, { rawBody: `{"opportunityCode":"${"x".repeat(70_000)}"}` }],
    ["of the wrong content type", 415, { rawBody: "{}", headers: { "content-type": "text/plain" } }],
  ] as const)("a body %s is logged with its status and envelope code -1", async (_name, status, options) => {
    const svc = await service();
    const { result: response, lines } = await captureStdout(() => svc.request("PUT", UPDATE_PATH, options));
    expect(response.status).toBe(status);
    expect(lines.map((line) => [line.status, line.code, line.actor])).toEqual([[status, "-1", "oms"]]);
  });

  test("an unknown path is logged as unmatched with the path (no query, at most 100 characters)", async () => {
    const svc = await service();
    const long = `/x/${"a".repeat(300)}`;
    const { lines } = await captureStdout(async () => {
      await svc.request("GET", "/no/such/route?q=1");
      await svc.request("GET", long);
    });
    expect(lines.map((line) => [line.route, line.status])).toEqual([
      ["unmatched /no/such/route", 404],
      [`unmatched ${long.slice(0, 100)}`, 404],
    ]);
  });

  test("a handler that throws: an error line and a 500 request line, with the same request id", async () => {
    const routes = new RouteTable([{ method: "GET", path: "/boom" }]);
    const handle = instrument(
      async () => {
        throw new Error("kaput");
      },
      { routes: () => routes },
    );
    const { result: response, lines } = await captureStdout(() => handle(new Request("http://localhost/boom", { headers: { "x-request-id": "boom-2" } })));
    expect(response.status).toBe(500);
    expect(lines.map((line) => [line.level, line.msg, line.requestId])).toEqual([
      ["error", "unhandled error", "boom-2"],
      ["info", "request", "boom-2"],
    ]);
    expect(lines[0]!.error).toMatchObject({ name: "Error", message: "kaput" });
    expect(lines[1]).toMatchObject({ route: "/boom", status: 500, code: "-1" });
  });
});

describe("X-Request-Id", () => {
  test("taken from the request and returned in the response header", async () => {
    const svc = await serviceWith("OPP-RID-1");
    const { result: response, lines } = await captureStdout(() => svc.request("GET", "/api/opportunities/OPP-RID-1", { headers: { "x-request-id": "abc-123_XYZ.789" } }));
    expect(response.headers.get("x-request-id")).toBe("abc-123_XYZ.789");
    expect(lines[0]!.requestId).toBe("abc-123_XYZ.789");
  });

  test("generated when absent: a UUID, the same in the header and the log", async () => {
    const svc = await serviceWith("OPP-RID-2");
    const { result: response, lines } = await captureStdout(() => svc.request("GET", "/api/opportunities/OPP-RID-2"));
    const id = response.headers.get("x-request-id");
    expect(id).toMatch(UUID);
    expect(lines[0]!.requestId).toBe(id!);
  });

  test("two requests without an id get different ones", async () => {
    const svc = await service();
    const { lines } = await captureStdout(async () => {
      await svc.request("GET", "/api/opportunities/A");
      await svc.request("GET", "/api/opportunities/B");
    });
    expect(lines).toHaveLength(2);
    expect(lines[0]!.requestId).not.toBe(lines[1]!.requestId);
  });

  test.each([
    ["with spaces", "not a sane id"],
    ["longer than 128 characters", "r".repeat(129)],
    ["with a tab", "id\twith-tab"],
  ])("replaced by a new one when %s", async (_name, given) => {
    const svc = await service();
    const { result: response, lines } = await captureStdout(() => svc.request("GET", "/api/opportunities/X", { headers: { "x-request-id": given } }));
    const id = response.headers.get("x-request-id");
    expect(id).toMatch(UUID);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.requestId).toBe(id!);
    expect(lines[0]!.level).toBe("info");
  });

  test("an id with quotes is kept, and escaped in the log: it cannot forge a field of the line", async () => {
    const svc = await service();
    const given = 'id","level":"error","actor":"root';
    const { result: response, lines } = await captureStdout(() => svc.request("GET", "/api/opportunities/X", { headers: { "x-request-id": given } }));
    expect(response.headers.get("x-request-id")).toBe(given);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ requestId: given, level: "info", actor: "oms" });
  });

  // Every kind of answer carries the request id of its log line.
  const answers: [string, string, string, RequestOptions][] = [
    ["a successful update", "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-RID-ALL", stage: "won" } }],
    ["a create rejected as a duplicate", "POST", CREATE_PATH, { body: createBody("OPP-RID-ALL") }],
    ["a read", "GET", "/api/opportunities/OPP-RID-ALL", {}],
    ["a history", "GET", "/api/opportunities/OPP-RID-ALL/history", {}],
    ["the event feed", "GET", "/api/events", {}],
    ["a bad query parameter", "GET", "/api/events?limit=0", {}],
    ["a 401", "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-RID-ALL" }, secret: WRONG_SECRET }],
    ["a 400", "PUT", UPDATE_PATH, { rawBody: "{not json" }],
    ["a 404", "GET", "/nothing", { secret: null }],
    ["a 405", "DELETE", UPDATE_PATH, {}],
    ["/healthz", "GET", "/healthz", { secret: null }],
    ["/readyz", "GET", "/readyz", { secret: null }],
    ["/metrics", "GET", "/metrics", {}],
  ];
  // One service for these cases, made on first use: each sends one request to it and checks only that answer's
  // id and log line, whatever the cases before it did to the store (the update succeeds either way, the create
  // is a duplicate either way). A service per case cost a database per case on PostgreSQL.
  let answering: Promise<BackendOpsService> | undefined;
  afterAll(async () => {
    await (await answering)?.dispose();
  });
  test.each(answers)("returned with %s", async (_name, method, path, options) => {
    const svc = await (answering ??= serviceWith("OPP-RID-ALL", true));
    setLogLevel("debug");
    const given = `rid-${method}-${path.length}`;
    const { result: response, lines } = await captureStdout(() => svc.request(method, path, { ...options, headers: { "x-request-id": given } }));
    expect(lines.map((line) => line.requestId)).toEqual([given]);
    expect(response.headers.get("x-request-id")).toBe(given);
  });
});

describe("secrets never reach the log", () => {
  test("wrong, right, in the body, in a query string, in Authorization, on every kind of route", async () => {
    const svc = await serviceWith("OPP-SECRET-1");
    setLogLevel("debug");
    const secrets = [TEST_SECRET, OTHER_CLIENT_SECRET, AUDITOR_SECRET, WRONG_SECRET];
    const requests: [string, string, RequestOptions][] = [
      ["PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-SECRET-1", stage: "won" }, secret: WRONG_SECRET }],
      ["PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-SECRET-1", stage: "won" } }],
      ["PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-SECRET-1", description: TEST_SECRET } }],
      ["PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-SECRET-1", internalSecret: TEST_SECRET, stage: WRONG_SECRET } }],
      ["PUT", UPDATE_PATH, { rawBody: `{"opportunityCode":"OPP-SECRET-1","x":"${TEST_SECRET}"`, secret: OTHER_CLIENT_SECRET }],
      ["PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-SECRET-1", stage: "won" }, secret: AUDITOR_SECRET }],
      ["GET", `/api/opportunities/OPP-SECRET-1?secret=${TEST_SECRET}`, {}],
      ["GET", `/api/opportunities/OPP-SECRET-1?x-internal-secret=${WRONG_SECRET}`, { secret: WRONG_SECRET }],
      ["GET", `/api/opportunities/OPP-SECRET-1?asOf=${TEST_SECRET}`, {}],
      ["GET", `/api/events?after=${TEST_SECRET}`, {}],
      ["GET", `/healthz?token=${TEST_SECRET}`, { secret: null, headers: { authorization: `Bearer ${TEST_SECRET}` } }],
      ["GET", "/metrics", { secret: null, headers: { authorization: `Bearer ${TEST_SECRET}` } }],
      ["GET", "/metrics", { secret: null, headers: { authorization: `Bearer ${WRONG_SECRET}` } }],
      ["GET", `/metrics?secret=${OTHER_CLIENT_SECRET}`, { secret: OTHER_CLIENT_SECRET }],
      ["GET", "/api/opportunities/OPP-SECRET-1", { secret: null, headers: { authorization: `Bearer ${TEST_SECRET}` } }],
      ["PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-SECRET-1" }, secret: null, headers: { authorization: `Bearer ${TEST_SECRET}` } }],
      ["GET", `/nothing?secret=${TEST_SECRET}`, { secret: TEST_SECRET }],
    ];
    const { text, lines } = await captureStdout(async () => {
      for (const [method, path, options] of requests) await svc.request(method, path, options);
    });
    // Every request was logged (so the check below looked at real lines)...
    expect(requestLines(lines)).toHaveLength(requests.length);
    expect(lines.map((line) => line.status)).toEqual([401, 200, 200, 200, 400, 403, 200, 401, 200, 200, 200, 200, 401, 200, 401, 401, 404]);
    // ...and none of them holds any secret, in any field.
    for (const secret of secrets) expect(text).not.toContain(secret);
  });

  test("the log's own machinery holds no header: a secret sent in every header stays out", async () => {
    const svc = await service();
    setLogLevel("debug");
    const headers = { authorization: `Bearer ${TEST_SECRET}`, cookie: `s=${TEST_SECRET}`, "x-forwarded-for": TEST_SECRET, "user-agent": TEST_SECRET, referer: `http://x/${TEST_SECRET}` };
    const { text, lines } = await captureStdout(async () => {
      await svc.request("GET", "/api/opportunities/OPP-H", { headers });
      await svc.request("GET", "/metrics", { headers });
    });
    expect(lines).toHaveLength(2);
    expect(text).not.toContain(TEST_SECRET);
  });
});

describe("log levels", () => {
  test("health and metrics polls are not printed at the default info level", async () => {
    const svc = await service();
    const { lines } = await captureStdout(async () => {
      await svc.request("GET", "/healthz", { secret: null });
      await svc.request("GET", "/readyz", { secret: null });
      await svc.request("GET", "/metrics");
      await svc.request("GET", "/api/opportunities/OPP-LEVEL");
    });
    expect(lines.map((line) => [line.level, line.route])).toEqual([["info", READ_ROUTE]]);
  });

  test("at debug they are printed, at debug level", async () => {
    const svc = await service();
    setLogLevel("debug");
    const { lines } = await captureStdout(async () => {
      await svc.request("GET", "/healthz", { secret: null });
      await svc.request("GET", "/readyz", { secret: null });
      await svc.request("GET", "/metrics");
      await svc.request("GET", "/metrics", { secret: null });
      await svc.request("GET", "/api/opportunities/OPP-LEVEL");
    });
    expect(lines.map((line) => [line.level, line.route, line.status])).toEqual([
      ["debug", "/healthz", 200],
      ["debug", "/readyz", 200],
      ["debug", "/metrics", 200],
      ["debug", "/metrics", 401],
      ["info", READ_ROUTE, 200],
    ]);
  });

  test("setLogLevel sets the threshold", async () => {
    const print = () =>
      captureStdout(() => {
        for (const level of ["debug", "info", "warn", "error"] as const) log(level, `at ${level}`);
      });
    const printed = async (level: "debug" | "info" | "warn" | "error") => {
      setLogLevel(level);
      return (await print()).lines.map((line) => line.msg);
    };
    expect(await printed("debug")).toEqual(["at debug", "at info", "at warn", "at error"]);
    expect(await printed("info")).toEqual(["at info", "at warn", "at error"]);
    expect(await printed("warn")).toEqual(["at warn", "at error"]);
    expect(await printed("error")).toEqual(["at error"]);
  });

  test("at warn, ordinary requests are not printed", async () => {
    const svc = await service();
    setLogLevel("warn");
    const { lines } = await captureStdout(() => svc.request("GET", "/api/opportunities/OPP-QUIET"));
    expect(lines).toEqual([]);
  });

  test("log() writes one JSON object per line: bigints as text, errors with name and message", async () => {
    const { text, lines } = await captureStdout(() => log("warn", "fields", { big: 9007199254740993n, error: new TypeError("bad thing"), nested: { a: [1] } }));
    expect(text.endsWith("\n")).toBe(true);
    expect(text.split("\n")).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: "warn", msg: "fields", big: "9007199254740993", error: { name: "TypeError", message: "bad thing" }, nested: { a: [1] } });
  });

  test("log() with plain values only: the same text as with objects, undefined left out, null kept", async () => {
    const { text } = await captureStdout(() => log("warn", "plain", { s: "文本 \"q\"", n: 1.5, t: true, z: null, u: undefined, i: -0 }));
    expect(text.replace(/"time":"[^"]+"/, '"time":"T"')).toBe('{"time":"T","level":"warn","msg":"plain","s":"文本 \\"q\\"","n":1.5,"t":true,"z":null,"i":0}\n');
    // A bigint at the top level or an object anywhere takes the other path, and the plain fields beside it read the same.
    const mixed = await captureStdout(() => log("warn", "plain", { s: "文本 \"q\"", n: 1.5, t: true, z: null, u: undefined, i: -0, big: 12n }));
    expect(mixed.text.replace(/"time":"[^"]+"/, '"time":"T"')).toBe('{"time":"T","level":"warn","msg":"plain","s":"文本 \\"q\\"","n":1.5,"t":true,"z":null,"i":0,"big":"12"}\n');
  });
});
