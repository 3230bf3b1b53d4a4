import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { E2E_TIMEOUT, startServer, stop, useBinary, type Server } from "../support/binary";
import { makeTempDir } from "../support/temp-dir";
import { api, histogramCount, logLines, nonJsonLines, sampleValue, scrape, stopAndCollect, waitFor, writeJson, type LogLine } from "./operations-support";

// What operators watch on the compiled binary: health checks, Prometheus metrics and the JSON request log,
// and that no secret ever reaches stdout or stderr.
const OMS = "oms-observe-secret-0123456789abcdef";
const AUDITOR = "audit-observe-secret-0123456789abcdef";
const dir = makeTempDir("opportunity-e2e-observe-");
const secretsFile = join(dir.path, "secrets.json");
let server: Server;

const CREATE = "/api/opportunities/integration/create";
const UPDATE = "/api/opportunities/integration/update";

useBinary();

beforeAll(async () => {
  writeJson(secretsFile, [{ name: "oms", secret: OMS }, { name: "audit-firm", secret: AUDITOR, role: "auditor" }]);
  // Debug level: every request is logged, health checks and scrapes included. Failed secrets are not
  // throttled here (the tests send several on purpose).
  server = await startServer(
    ["--db", join(dir.path, "observe.db"), "--secrets", secretsFile, "--log-level", "debug", "--auth-failure-limit", "0", "--shutdown-timeout", "1000"],
    dir.path,
  );
}, E2E_TIMEOUT);

afterAll(async () => {
  // useBinary's own afterAll has usually killed it by now; stop it here in case it has not.
  if (server && server.child.exitCode === null && server.child.signalCode === null) await stop(server);
  dir.cleanup();
}, E2E_TIMEOUT);

/** The "request" log lines of one request id, once they have arrived (at most 5 s). */
async function requestLines(requestId: string, output = () => server.output()): Promise<LogLine[]> {
  const find = () => logLines(output()).filter((line) => line.msg === "request" && line.requestId === requestId);
  await waitFor(() => find().length > 0, `the log line of ${requestId}`, 5_000);
  return find();
}

describe("health", () => {
  test("/healthz and /readyz answer without a secret, in a tiny envelope", async () => {
    for (const [path, data] of [
      ["/healthz", "ok"],
      ["/readyz", "ready"],
    ] as const) {
      const response = await fetch(`${server.baseUrl}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/json;charset=UTF-8");
      const text = await response.text();
      expect(JSON.parse(text)).toEqual({ code: "0", msg: "success", data });
      expect(text.length).toBeLessThan(64);
      // A wrong secret does not matter on a public path.
      const withWrongSecret = await api(server.baseUrl, "GET", path, { secret: "not-a-secret-at-all-000000" });
      expect(withWrongSecret.status).toBe(200);
      expect(withWrongSecret.body.data).toBe(data);
    }
  }, E2E_TIMEOUT);
});

describe("metrics", () => {
  test("/metrics needs the secret, by X-Internal-Secret or Authorization: Bearer; nothing else", async () => {
    const refused: Record<string, string>[] = [
      {},
      { "x-internal-secret": "wrong-secret-0123456789abcdef" },
      { authorization: "Bearer wrong-secret-0123456789abcdef" },
      { authorization: `Basic ${Buffer.from(`oms:${OMS}`).toString("base64")}` },
      { authorization: OMS },
      { authorization: `bearer ${OMS}` },
    ];
    for (const headers of refused) {
      const answer = await api(server.baseUrl, "GET", "/metrics", { headers });
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ code: "-1", msg: "内部接口鉴权失败", data: null });
    }
    const accepted: Record<string, string>[] = [{ "x-internal-secret": OMS }, { authorization: `Bearer ${OMS}` }, { authorization: `Bearer ${AUDITOR}` }];
    for (const headers of accepted) {
      const response = await fetch(`${server.baseUrl}/metrics`, { headers });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
      expect(await response.text()).toContain("# TYPE opportunity_http_requests_total counter");
    }
    // Bearer is for the scraper only: the API still wants X-Internal-Secret.
    const bearerOnApi = await api(server.baseUrl, "GET", "/api/events", { headers: { authorization: `Bearer ${OMS}` } });
    expect(bearerOnApi.status).toBe(401);
  }, E2E_TIMEOUT);

  test("counters move with requests: requests by route and code, events appended, the opportunities gauge", async () => {
    const headers = { authorization: `Bearer ${OMS}` };
    const before = await scrape(server.baseUrl, headers);
    expect(before.families.map((family) => family.name)).toEqual(
      expect.arrayContaining([
        "opportunity_http_requests_total",
        "opportunity_http_request_duration_seconds",
        "opportunity_events_appended_total",
        "opportunity_write_transaction_duration_seconds",
        "opportunity_write_requests_total",
        "opportunity_database_size_bytes",
        "opportunity_wal_size_bytes",
        "opportunity_opportunities",
        "opportunity_wal_checkpoints_total",
        "opportunity_wal_checkpointer_up",
        "opportunity_process_resident_memory_bytes",
      ]),
    );
    const requests = (route: string, method: string, status: string, code: string) => ({ route, method, status, code });
    const count = (families: typeof before, labels: Record<string, string>) => sampleValue(families, "opportunity_http_requests_total", labels);
    const opportunitiesBefore = sampleValue(before, "opportunity_opportunities");

    for (const code of ["MET-1", "MET-2", "MET-3"]) {
      const created = await api(server.baseUrl, "POST", CREATE, { secret: OMS, body: { opportunityCode: code, opportunityName: "指标", endCustomerName: "客户" } });
      expect(created.body.code).toBe("0");
    }
    expect((await api(server.baseUrl, "PUT", UPDATE, { secret: OMS, body: { opportunityCode: "MET-1", stage: "won" } })).body.code).toBe("0");
    expect((await api(server.baseUrl, "PUT", UPDATE, { secret: OMS, body: { opportunityCode: "MET-2", amount: 100 } })).body.code).toBe("0");
    // Changes nothing: succeeds, appends nothing.
    expect((await api(server.baseUrl, "PUT", UPDATE, { secret: OMS, body: { opportunityCode: "MET-1", stage: "won" } })).body.code).toBe("0");
    const invalid = await api(server.baseUrl, "PUT", UPDATE, { secret: OMS, body: { opportunityCode: "MET-1", stage: "nope" } });
    expect(invalid.body).toEqual({ code: "-1", msg: "项目阶段无效: nope", data: null });
    expect((await api(server.baseUrl, "PUT", UPDATE, { secret: "wrong-secret-0123456789abcdef", body: { opportunityCode: "MET-1", stage: "lost" } })).status).toBe(401);
    expect((await api(server.baseUrl, "GET", "/api/opportunities/MET-3", { secret: AUDITOR })).body.code).toBe("0");
    expect((await api(server.baseUrl, "GET", "/api/opportunities/MET-404", { secret: AUDITOR })).body.msg).toBe("商机不存在");

    const after = await scrape(server.baseUrl, headers);
    const delta = (labels: Record<string, string>) => count(after, labels) - count(before, labels);
    expect(delta(requests(CREATE, "POST", "200", "0"))).toBe(3);
    expect(delta(requests(UPDATE, "PUT", "200", "0"))).toBe(3);
    expect(delta(requests(UPDATE, "PUT", "200", "-1"))).toBe(1);
    expect(delta(requests(UPDATE, "PUT", "401", "-1"))).toBe(1);
    expect(delta(requests("/api/opportunities/:opportunityCode", "GET", "200", "0"))).toBe(1);
    expect(delta(requests("/api/opportunities/:opportunityCode", "GET", "200", "-1"))).toBe(1);
    // The first scrape is counted by the time of the second one (a scrape is not an envelope: code none).
    expect(delta(requests("/metrics", "GET", "200", "none"))).toBe(1);

    const events = (families: typeof before, type: string) => sampleValue(families, "opportunity_events_appended_total", { type });
    expect(events(after, "OpportunityCreated") - events(before, "OpportunityCreated")).toBe(3);
    expect(events(after, "OpportunityUpdated") - events(before, "OpportunityUpdated")).toBe(2);
    expect(sampleValue(after, "opportunity_opportunities") - opportunitiesBefore).toBe(3);
    // One request at a time: each write that reached the writer came alone, so it was committed in-process.
    const paths = (families: typeof before, path: string) => sampleValue(families, "opportunity_write_requests_total", { path });
    expect(paths(after, "in_process") - paths(before, "in_process")).toBe(6);
    expect(paths(after, "writer_thread") - paths(before, "writer_thread")).toBe(0);

    const durations = (families: typeof before) => histogramCount(families, "opportunity_http_request_duration_seconds", { route: CREATE, method: "POST" });
    expect(durations(after) - durations(before)).toBe(3);
    // Every write that reached the writer was in a committed transaction (group commit may share one).
    const commits = (families: typeof before) => histogramCount(families, "opportunity_write_transaction_duration_seconds");
    expect(commits(after) - commits(before)).toBeGreaterThanOrEqual(1);
    expect(commits(after) - commits(before)).toBeLessThanOrEqual(6);
    expect(sampleValue(after, "opportunity_database_size_bytes")).toBeGreaterThan(0);
    expect(sampleValue(after, "opportunity_process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
    // The checkpointer thread runs, and copies these commits back into the database file within a few of its
    // 250 ms rounds.
    expect(sampleValue(after, "opportunity_wal_checkpointer_up")).toBe(1);
    const checkpointsBefore = sampleValue(before, "opportunity_wal_checkpoints_total");
    await waitFor(async () => sampleValue(await scrape(server.baseUrl, headers), "opportunity_wal_checkpoints_total") > checkpointsBefore, "a checkpoint of the new commits", 5_000);
  }, E2E_TIMEOUT);
});

describe("request log", () => {
  test("each request gives exactly one JSON line with its facts; X-Request-Id is echoed and logged", async () => {
    const created = await api(server.baseUrl, "POST", CREATE, {
      secret: OMS,
      headers: { "x-request-id": "log-create-1" },
      body: { opportunityCode: "LOG-1", opportunityName: "日志", endCustomerName: "客户" },
    });
    expect(created.body.code).toBe("0");
    expect(created.headers.get("x-request-id")).toBe("log-create-1");
    const updated = await api(server.baseUrl, "PUT", UPDATE, { secret: OMS, headers: { "x-request-id": "log-update-1" }, body: { opportunityCode: " LOG-1 ", amount: 5 } });
    expect(updated.headers.get("x-request-id")).toBe("log-update-1");
    const rejected = await api(server.baseUrl, "PUT", UPDATE, { secret: OMS, headers: { "x-request-id": "log-reject-1" }, body: { opportunityCode: "LOG-1", confidencePct: "Z" } });
    expect(rejected.body.msg).toBe("项目把握度仅支持A、B、C");
    expect(rejected.headers.get("x-request-id")).toBe("log-reject-1");
    const unauthorized = await api(server.baseUrl, "PUT", UPDATE, { secret: "nope-nope-nope-nope-nope", headers: { "x-request-id": "log-401-1" }, body: { opportunityCode: "LOG-1", amount: 6 } });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("x-request-id")).toBe("log-401-1");
    const read = await api(server.baseUrl, "GET", "/api/opportunities/LOG-1", { secret: AUDITOR, headers: { "x-request-id": "log-read-1" } });
    expect(read.headers.get("x-request-id")).toBe("log-read-1");
    const missing = await api(server.baseUrl, "GET", "/no/such/path", { secret: OMS, headers: { "x-request-id": "log-404-1" } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-request-id")).toBe("log-404-1");
    expect((await fetch(`${server.baseUrl}/healthz`, { headers: { "x-request-id": "log-health-1" } })).status).toBe(200);

    const expected: Record<string, Record<string, unknown>> = {
      "log-create-1": { level: "info", method: "POST", route: CREATE, status: 200, code: "0", actor: "oms", opportunityCode: "LOG-1" },
      "log-update-1": { level: "info", method: "PUT", route: UPDATE, status: 200, code: "0", actor: "oms", opportunityCode: "LOG-1" },
      "log-reject-1": { level: "info", method: "PUT", route: UPDATE, status: 200, code: "-1", actor: "oms", opportunityCode: "LOG-1" },
      "log-401-1": { level: "info", method: "PUT", route: UPDATE, status: 401, code: "-1", actor: null, opportunityCode: null },
      "log-read-1": { level: "info", method: "GET", route: "/api/opportunities/:opportunityCode", status: 200, code: "0", actor: "audit-firm", opportunityCode: "LOG-1" },
      "log-404-1": { level: "info", method: "GET", route: "unmatched /no/such/path", status: 404, code: "-1", actor: "oms", opportunityCode: null },
      "log-health-1": { level: "debug", method: "GET", route: "/healthz", status: 200, code: "0", actor: null, opportunityCode: null },
    };
    for (const [requestId, facts] of Object.entries(expected)) {
      const lines = await requestLines(requestId);
      expect(lines).toHaveLength(1);
      const line = lines[0]!;
      expect(line).toEqual({ time: expect.any(String), msg: "request", requestId, durationMs: expect.any(Number), ...facts });
      expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Math.abs(Date.parse(line.time) - Date.now())).toBeLessThan(60_000);
      expect(line.durationMs).toBeGreaterThanOrEqual(0);
      expect(line.durationMs).toBeLessThan(10_000);
    }
    // stdout holds JSON lines only (a secrets file is configured, so no generated-secret banner).
    expect(nonJsonLines(server.output())).toEqual([]);
  }, E2E_TIMEOUT);

  test("a missing or unusable X-Request-Id is replaced by a generated one, echoed and logged", async () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    for (const given of [undefined, "has spaces in it", "x".repeat(129)]) {
      const headers: Record<string, string> = given === undefined ? {} : { "x-request-id": given };
      const answer = await api(server.baseUrl, "GET", "/api/opportunities/LOG-GEN", { secret: OMS, headers });
      expect(answer.body.msg).toBe("商机不存在");
      const echoed = answer.headers.get("x-request-id");
      expect(echoed).toMatch(uuid);
      const lines = await requestLines(echoed!);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ route: "/api/opportunities/:opportunityCode", opportunityCode: "LOG-GEN", code: "-1" });
    }
    // The longest id accepted: 128 visible ASCII characters.
    const longest = `id-${"9".repeat(125)}`;
    const answer = await api(server.baseUrl, "GET", "/api/opportunities/LOG-GEN", { secret: OMS, headers: { "x-request-id": longest } });
    expect(answer.headers.get("x-request-id")).toBe(longest);
    expect(await requestLines(longest)).toHaveLength(1);
  }, E2E_TIMEOUT);

  test("X-Request-Id is echoed on health, readiness and metrics answers too", async () => {
    // BUG: /healthz, /readyz and a successful /metrics answer without the X-Request-Id header (their log
    // lines do carry the id); only the API routes and error answers echo it.
    const echoed: Record<string, string | null> = {};
    const sent: Record<string, string> = {};
    for (const [path, headers] of [
      ["/healthz", {}],
      ["/readyz", {}],
      ["/metrics", { "x-internal-secret": OMS }],
    ] as const) {
      const requestId = `echo-${path.slice(1)}`;
      const response = await fetch(`${server.baseUrl}${path}`, { headers: { ...headers, "x-request-id": requestId } });
      expect(response.status).toBe(200);
      expect(await requestLines(requestId)).toHaveLength(1);
      sent[path] = requestId;
      echoed[path] = response.headers.get("x-request-id");
    }
    expect(echoed).toEqual(sent);
  }, E2E_TIMEOUT);

  test("envelope answers to bad bodies (400, 413, 415) are logged and counted with code -1", async () => {
    // BUG: the parse-hook faults answer with a "-1" envelope, but their log line and the
    // opportunity_http_requests_total label say code "none" (meant for answers that are not envelopes).
    const cases = [
      { requestId: "bad-json", status: 400, body: "{not json", contentType: "application/json" },
      { requestId: "bad-size", status: 413, body: JSON.stringify({ opportunityCode: "X", description: "x".repeat(70_000) }), contentType: "application/json" },
      { requestId: "bad-type", status: 415, body: "opportunityCode=X", contentType: "application/x-www-form-urlencoded" },
    ];
    const headers = { authorization: `Bearer ${OMS}` };
    const before = await scrape(server.baseUrl, headers);
    for (const bad of cases) {
      const answer = await api(server.baseUrl, "PUT", UPDATE, { secret: OMS, headers: { "x-request-id": bad.requestId, "content-type": bad.contentType }, body: bad.body });
      expect(answer.status).toBe(bad.status);
      expect(answer.body.code).toBe("-1");
      expect(answer.headers.get("x-request-id")).toBe(bad.requestId);
    }
    const after = await scrape(server.baseUrl, headers);
    const logged: Record<string, unknown> = {};
    const counted: Record<string, number> = {};
    for (const bad of cases) {
      logged[bad.requestId] = (await requestLines(bad.requestId))[0]!.code;
      const labels = { route: UPDATE, method: "PUT", status: String(bad.status), code: "-1" };
      counted[bad.requestId] = sampleValue(after, "opportunity_http_requests_total", labels) - sampleValue(before, "opportunity_http_requests_total", labels);
    }
    expect({ logged, counted }).toEqual({
      logged: { "bad-json": "-1", "bad-size": "-1", "bad-type": "-1" },
      counted: { "bad-json": 1, "bad-size": 1, "bad-type": 1 },
    });
  }, E2E_TIMEOUT);
});

describe("secrets stay out of the output", () => {
  test("right, wrong and misplaced secrets (headers, bodies, query strings) never reach stdout, stderr or the event metadata", async () => {
    const leakDir = makeTempDir("opportunity-e2e-leak-");
    try {
      const right = "right-leak-secret-0123456789abcdefXYZ";
      const reader = "reader-leak-secret-0123456789abcdefQRS";
      const wrong = [`${right}0`, right.slice(0, -1), right.toUpperCase(), "totally-wrong-secret-5555555555"];
      const file = join(leakDir.path, "secrets.json");
      writeJson(file, [{ name: "oms", secret: right }, { name: "reader", secret: reader, role: "auditor" }]);
      const dbPath = join(leakDir.path, "leak.db");
      const leak = await startServer(["--db", dbPath, "--secrets", file, "--log-level", "debug", "--auth-failure-limit", "0", "--shutdown-timeout", "1000"], leakDir.path);
      const base = leak.baseUrl;
      const statuses: number[] = [];
      const call = async (method: string, path: string, options: Parameters<typeof api>[3]) => statuses.push((await api(base, method, path, options)).status);

      await call("POST", CREATE, { secret: right, body: { opportunityCode: "LEAK-1", opportunityName: "泄漏", endCustomerName: "客户" } });
      await call("PUT", UPDATE, { secret: right, body: { opportunityCode: "LEAK-1", amount: 1 } });
      await call("PUT", UPDATE, { secret: reader, body: { opportunityCode: "LEAK-1", amount: 2 } });
      for (const secret of wrong) {
        await call("PUT", UPDATE, { secret, body: { opportunityCode: "LEAK-1", amount: 3 } });
        await call("GET", "/metrics", { headers: { authorization: `Bearer ${secret}` } });
        await call("GET", "/api/events", { secret });
      }
      await call("GET", "/metrics", { headers: { authorization: `Bearer ${right}` } });
      await call("GET", "/api/events", { headers: { authorization: `Bearer ${right}` } });
      await call("GET", "/api/events", { headers: { cookie: `secret=${right}` } });
      // Secrets in query strings.
      await call("GET", `/api/events?secret=${right}`, { secret: right });
      await call("GET", `/api/events?secret=${right}`, {});
      await call("GET", `/api/opportunities/LEAK-1?x-internal-secret=${right}`, { secret: reader });
      await call("GET", `/api/opportunities/LEAK-1/history?token=${wrong[0]}`, { secret: reader });
      await call("GET", `/metrics?token=${right}`, { secret: right });
      await call("GET", `/nowhere?secret=${right}`, { secret: right });
      await call("GET", `/healthz?secret=${right}`, {});
      // Secrets in bodies that are rejected one way or another.
      await call("PUT", UPDATE, { secret: right, body: { opportunityCode: "LEAK-1", internalSecret: right } });
      await call("PUT", UPDATE, { secret: right, body: { opportunityCode: "LEAK-1", stage: right, confidencePct: wrong[0] } });
      await call("PUT", UPDATE, { secret: right, body: `{"opportunityCode":"LEAK-1","x":"${right}"` });
      await call("PUT", UPDATE, { secret: right, headers: { "content-type": "text/plain" }, body: right });
      await call("PUT", UPDATE, { secret: right, body: JSON.stringify({ opportunityCode: "LEAK-1", description: right.repeat(3000) }) });
      await call("PUT", UPDATE, { secret: wrong[3], body: { opportunityCode: "LEAK-1", description: right } });
      await call("POST", CREATE, { secret: right, body: { opportunityCode: "LEAK-2", opportunityName: right, endCustomerName: "客户", amount: -1 } });
      // A reload logs the clients it now knows.
      leak.child.kill("SIGHUP");
      await waitFor(() => leak.output().includes('"msg":"configuration reloaded"'), "the reload log line", 5_000);

      expect(statuses).toEqual([
        200, 200, 403, ...wrong.flatMap(() => [401, 401, 401]), 200, 401, 401, 200, 401, 200, 200, 200, 404, 200, 200, 200, 400, 415, 413, 401, 200,
      ]);
      const { code, stdout, stderr } = await stopAndCollect(leak);
      expect(code).toBe(0);
      // The output is not empty: the requests were logged, the reload too.
      expect(logLines(stdout).filter((line) => line.msg === "request")).toHaveLength(statuses.length);
      expect(stdout).toContain('"secrets":[{"name":"oms","role":"integrator"},{"name":"reader","role":"auditor"}]');
      for (const secret of [right, reader, ...wrong]) {
        expect(stdout.includes(secret)).toBe(false);
        expect(stderr.includes(secret)).toBe(false);
      }
      // Nor in the events' metadata, nor anywhere in the database file (nothing with a secret was accepted).
      const db = new Database(dbPath, { readonly: true });
      try {
        const metadata = db.query<{ metadata: string }, []>("SELECT metadata FROM events").all().map((row) => row.metadata);
        expect(metadata.map((text) => JSON.parse(text).actor)).toEqual(["oms", "oms"]);
        expect(metadata.join("\n")).not.toContain(right.slice(0, 20));
      } finally {
        db.close();
      }
      expect(readFileSync(dbPath).includes(Buffer.from(right.slice(0, 20)))).toBe(false);
    } finally {
      leakDir.cleanup();
    }
  }, E2E_TIMEOUT);
});
