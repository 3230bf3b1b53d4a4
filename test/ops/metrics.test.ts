import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { instrument } from "../../src/http/instrument";
import { setLogLevel } from "../../src/log";
import { ServiceMetrics } from "../../src/metrics";
import { RouteTable } from "../../src/http/route-table";
import { makeTempDir } from "../support/temp-dir";
import { sqliteOnly } from "../support/test-backend";
import {
  allLabelValues,
  AUDITOR_SECRET,
  createBody,
  CREATE_PATH,
  family,
  histogramOf,
  parseScrape,
  HISTORY_ROUTE,
  READ_ROUTE,
  scrape,
  startBackendOpsService,
  startOpsService,
  TEST_SECRET,
  UPDATE_PATH,
  valueOf,
  type BackendOpsService,
  type OpsService,
} from "./ops-service";

// Prometheus metrics: requests by route pattern / method / status / envelope code, latency, events appended by
// type, write-transaction latency, and the database gauges. Read back through the text format, as Prometheus does.

const REQUESTS = "opportunity_http_requests_total";
const LATENCY = "opportunity_http_request_duration_seconds";
const EVENTS = "opportunity_events_appended_total";
const COMMITS = "opportunity_write_transaction_duration_seconds";

// The request log is not what these tests look at: keep it off the test output (the threshold is process-wide).
beforeAll(() => setLogLevel("error"));
afterAll(() => setLogLevel("info"));

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A service on this run's backend (TEST_BACKEND). */
async function service(): Promise<BackendOpsService> {
  const started = await startBackendOpsService();
  cleanups.push(() => started.dispose());
  return started;
}

/** A service on a SQLite file, for the gauges of the file and its WAL. */
function sqliteService(): OpsService {
  const started = startOpsService();
  cleanups.push(() => started.dispose());
  return started;
}

const requests = (route: string, method: string, status: number, code: string) => ({ route, method, status: String(status), code });

describe("ServiceMetrics on its own", () => {
  test("exposes every family with its type", async () => {
    const dir = makeTempDir("ops-metrics-");
    cleanups.push(dir.cleanup);
    const metrics = new ServiceMetrics({ dbPath: join(dir.path, "none.db"), countOpportunities: () => 0 });
    const families = await scrape(metrics);
    const types = Object.fromEntries(families.families.map((f) => [f.name, f.type]));
    expect(types).toMatchObject({
      [REQUESTS]: "COUNTER",
      [LATENCY]: "HISTOGRAM",
      [EVENTS]: "COUNTER",
      [COMMITS]: "HISTOGRAM",
      opportunity_database_size_bytes: "GAUGE",
      opportunity_wal_size_bytes: "GAUGE",
      opportunity_opportunities: "GAUGE",
    });
  });

  test("the gauges read the database file, its WAL and the opportunity count at scrape time", async () => {
    const dir = makeTempDir("ops-metrics-");
    cleanups.push(dir.cleanup);
    const dbPath = join(dir.path, "fake.db");
    let count = 0;
    const metrics = new ServiceMetrics({ dbPath, countOpportunities: () => count });
    // No files yet: sizes are 0, not an error.
    let families = await scrape(metrics);
    expect([valueOf(families, "opportunity_database_size_bytes"), valueOf(families, "opportunity_wal_size_bytes"), valueOf(families, "opportunity_opportunities")]).toEqual([0, 0, 0]);
    writeFileSync(dbPath, Buffer.alloc(12_345));
    writeFileSync(`${dbPath}-wal`, Buffer.alloc(678));
    count = 42;
    families = await scrape(metrics);
    expect([valueOf(families, "opportunity_database_size_bytes"), valueOf(families, "opportunity_wal_size_bytes"), valueOf(families, "opportunity_opportunities")]).toEqual([12_345, 678, 42]);
  });

  test("the checkpointer's metrics read its count and state at scrape time, and exist only where there is one", async () => {
    const checkpointer = { checkpoints: 0, up: true };
    const metrics = new ServiceMetrics({ countOpportunities: () => 0, walCheckpoints: () => checkpointer });
    let families = await scrape(metrics);
    expect([valueOf(families, "opportunity_wal_checkpoints_total"), valueOf(families, "opportunity_wal_checkpointer_up")]).toEqual([0, 1]);
    Object.assign(checkpointer, { checkpoints: 7, up: false });
    families = await scrape(metrics);
    expect([valueOf(families, "opportunity_wal_checkpoints_total"), valueOf(families, "opportunity_wal_checkpointer_up")]).toEqual([7, 0]);
    const names = (await scrape(new ServiceMetrics({ countOpportunities: () => 0 }))).families.map((family) => family.name);
    expect(names.filter((name) => name.startsWith("opportunity_wal_checkpoint"))).toEqual([]);
  });

  test("recordCommit counts events by type and observes the transaction time", async () => {
    const dir = makeTempDir("ops-metrics-");
    cleanups.push(dir.cleanup);
    const metrics = new ServiceMetrics({ dbPath: join(dir.path, "none.db"), countOpportunities: () => 0 });
    metrics.recordCommit(0.002, ["OpportunityCreated", "OpportunityUpdated", "OpportunityUpdated"]);
    metrics.recordCommit(0.3, []);
    const families = await scrape(metrics);
    expect(valueOf(families, EVENTS, { type: "OpportunityCreated" })).toBe(2 - 1);
    expect(valueOf(families, EVENTS, { type: "OpportunityUpdated" })).toBe(2);
    const commits = histogramOf(families, COMMITS);
    expect(commits.count).toBe(2);
    expect(commits.sum).toBeCloseTo(0.302, 9);
    expect(commits.buckets["0.0025"]).toBe(1);
    expect(commits.buckets["0.25"]).toBe(1);
    expect(commits.buckets["1"]).toBe(2);
    expect(commits.buckets["+Inf"]).toBe(2);
  });
});

describe("requests through instrument()", () => {
  test("counted by route pattern, method, status and envelope code; never by raw path", async () => {
    const svc = await service();
    const code = "OPP-METRICS-777";
    await svc.request("POST", CREATE_PATH, { body: createBody(code) });
    await svc.request("PUT", UPDATE_PATH, { body: { opportunityCode: code, stage: "won" } });
    await svc.request("PUT", UPDATE_PATH, { body: { opportunityCode: code, stage: "no-such-stage" } });
    await svc.request("PUT", UPDATE_PATH, { body: { opportunityCode: code, stage: "won" }, secret: "wrong-secret-0123456789abcdef" });
    await svc.request("GET", `/api/opportunities/${code}`);
    await svc.request("GET", `/api/opportunities/${code}`);
    await svc.request("GET", "/api/opportunities/OPP-UNKNOWN-999");
    await svc.request("GET", `/api/opportunities/${code}/history`);
    await svc.request("GET", `/nothing/${code}`);
    await svc.request("GET", "/healthz", { secret: null });
    await svc.request("DELETE", UPDATE_PATH);

    const families = await scrape(svc.metrics);
    expect(valueOf(families, REQUESTS, requests(CREATE_PATH, "POST", 200, "0"))).toBe(1);
    expect(valueOf(families, REQUESTS, requests(UPDATE_PATH, "PUT", 200, "0"))).toBe(1);
    // A validation rejection is a business outcome: HTTP 200, envelope code -1.
    expect(valueOf(families, REQUESTS, requests(UPDATE_PATH, "PUT", 200, "-1"))).toBe(1);
    expect(valueOf(families, REQUESTS, requests(UPDATE_PATH, "PUT", 401, "-1"))).toBe(1);
    expect(valueOf(families, REQUESTS, requests(READ_ROUTE, "GET", 200, "0"))).toBe(2);
    expect(valueOf(families, REQUESTS, requests(READ_ROUTE, "GET", 200, "-1"))).toBe(1);
    expect(valueOf(families, REQUESTS, requests(HISTORY_ROUTE, "GET", 200, "0"))).toBe(1);
    expect(valueOf(families, REQUESTS, requests("unmatched", "GET", 404, "-1"))).toBe(1);
    expect(valueOf(families, REQUESTS, requests("/healthz", "GET", 200, "0"))).toBe(1);
    expect(valueOf(families, REQUESTS, requests("unmatched", "DELETE", 405, "-1"))).toBe(1);
    // Exactly these series, nothing else (11 requests in all).
    const total = family(families, REQUESTS).metrics.reduce((sum, sample) => sum + Number(sample.value), 0);
    expect(total).toBe(11);
    // Neither opportunity code appears anywhere in a label.
    for (const value of allLabelValues(families)) {
      expect(value).not.toContain("OPP-");
      expect(value).not.toContain("/nothing");
    }
  });

  // These faults are raised while the body is read; the answer is still the envelope with code -1.
  test.each([
    ["400 (not JSON)", 400, { rawBody: "{not json" }],
    ["400 (empty body)", 400, { rawBody: "" }],
    ["413 (body too large)", 413, { rawBody: `{"opportunityCode":"${"x".repeat(70_000)}"}` }],
    ["415 (wrong content type)", 415, { rawBody: "{}", headers: { "content-type": "text/plain" } }],
  ] as const)("a protocol fault %s is counted with envelope code -1", async (_name, status, options) => {
    const svc = await service();
    const response = await svc.request("PUT", UPDATE_PATH, options);
    expect(response.status).toBe(status);
    expect(((await response.json()) as { code: string }).code).toBe("-1");
    const families = await scrape(svc.metrics);
    expect(family(families, REQUESTS).metrics.map((sample) => sample.labels)).toEqual([requests(UPDATE_PATH, "PUT", status, "-1")]);
  });

  test("latency histogram per route pattern and method", async () => {
    const svc = await service();
    for (let i = 0; i < 3; i++) await svc.request("GET", `/api/opportunities/OPP-LAT-${i}`);
    await svc.request("GET", "/readyz", { secret: null });
    const families = await scrape(svc.metrics);
    const reads = histogramOf(families, LATENCY, { route: READ_ROUTE, method: "GET" });
    expect(reads.count).toBe(3);
    expect(reads.buckets["+Inf"]).toBe(3);
    expect(reads.sum).toBeGreaterThan(0);
    expect(reads.sum).toBeLessThan(30);
    // Buckets are cumulative.
    const les = Object.keys(reads.buckets).sort((a, b) => Number(a) - Number(b));
    expect(les).toEqual(["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]);
    const cumulative = les.map((le) => reads.buckets[le]!);
    expect(cumulative).toEqual([...cumulative].sort((a, b) => a - b));
    expect(histogramOf(families, LATENCY, { route: "/readyz", method: "GET" }).count).toBe(1);
  });

  test("a handler that throws answers 500 in the envelope and is counted", async () => {
    const dir = makeTempDir("ops-metrics-");
    cleanups.push(dir.cleanup);
    const metrics = new ServiceMetrics({ dbPath: join(dir.path, "none.db"), countOpportunities: () => 0 });
    const routes = new RouteTable([{ method: "GET", path: "/boom/:id" }]);
    const handle = instrument(
      async () => {
        throw new Error("kaput");
      },
      { routes: () => routes, metrics },
    );
    // The error log line goes to stdout: keep it out of the test output.
    const original = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    let response: Response;
    try {
      response = await handle(new Request("http://localhost/boom/OPP-1", { headers: { "x-request-id": "boom-1" } }));
    } finally {
      process.stdout.write = original;
    }
    expect(response.status).toBe(500);
    expect(response.headers.get("x-request-id")).toBe("boom-1");
    expect(await response.json()).toEqual({ code: "-1", msg: "服务器内部错误，请稍后重试", data: null });
    const families = await scrape(metrics);
    expect(valueOf(families, REQUESTS, requests("/boom/:id", "GET", 500, "-1"))).toBe(1);
  });
});

describe("write transactions (writer.onCommit)", () => {
  test("events appended by type and one commit observation per write", async () => {
    const svc = await service();
    const scrapeEvents = async () => {
      const families = await scrape(svc.metrics);
      return {
        created: valueOf(families, EVENTS, { type: "OpportunityCreated" }),
        updated: valueOf(families, EVENTS, { type: "OpportunityUpdated" }),
        commits: histogramOf(families, COMMITS).count,
      };
    };
    expect(await scrapeEvents()).toEqual({ created: 0, updated: 0, commits: 0 });
    await svc.request("POST", CREATE_PATH, { body: createBody("OPP-EV-1") });
    await svc.request("POST", CREATE_PATH, { body: createBody("OPP-EV-2") });
    expect(await scrapeEvents()).toEqual({ created: 2, updated: 0, commits: 2 });
    await svc.request("PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-EV-1", stage: "won" } });
    expect(await scrapeEvents()).toEqual({ created: 2, updated: 1, commits: 3 });
    // A request that changes nothing appends nothing (its transaction still commits).
    await svc.request("PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-EV-1", stage: "won" } });
    const afterNoOp = await scrapeEvents();
    expect({ created: afterNoOp.created, updated: afterNoOp.updated }).toEqual({ created: 2, updated: 1 });
    // A body that fails validation never reaches the writer.
    await svc.request("PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-EV-1", confidencePct: "Z" } });
    expect(await scrapeEvents()).toEqual(afterNoOp);
    // The counters agree with the store.
    const rows = await svc.tables.select<{ type: string; n: bigint }>("SELECT type, COUNT(*) AS n FROM events GROUP BY type ORDER BY type");
    expect(rows.map(({ type, n }) => ({ type, n: Number(n) }))).toEqual([
      { type: "OpportunityCreated", n: 2 },
      { type: "OpportunityUpdated", n: 1 },
    ]);
    const commits = histogramOf(await scrape(svc.metrics), COMMITS);
    expect(commits.sum).toBeGreaterThan(0);
    expect(commits.buckets["+Inf"]).toBe(commits.count);
  });

  sqliteOnly.test("the gauges follow the live database file and its WAL", async () => {
    const svc = sqliteService();
    for (let i = 1; i <= 3; i++) await svc.request("POST", CREATE_PATH, { body: createBody(`OPP-GAUGE-${i}`) });
    const families = await scrape(svc.metrics);
    expect(valueOf(families, "opportunity_opportunities")).toBe(3);
    expect(valueOf(families, "opportunity_database_size_bytes")).toBe(statSync(svc.dbPath).size);
    const wal = valueOf(families, "opportunity_wal_size_bytes");
    expect(wal).toBe(statSync(`${svc.dbPath}-wal`).size);
    // Three committed transactions are in the WAL (no checkpoint has run on this small database).
    expect(wal).toBeGreaterThan(0);
  });
});

describe("GET /metrics through the app", () => {
  const UNAUTHORIZED = { code: "-1", msg: "内部接口鉴权失败", data: null };

  test.each([
    ["no credentials", {}],
    ["a wrong X-Internal-Secret", { "x-internal-secret": "wrong-secret-0123456789abcdef" }],
    ["a wrong bearer token", { authorization: "Bearer wrong-secret-0123456789abcdef" }],
    ["the secret as Basic, not Bearer", { authorization: `Basic ${TEST_SECRET}` }],
    ["the secret without the Bearer scheme", { authorization: TEST_SECRET }],
  ])("401 with %s", async (_name, headers) => {
    const svc = await service();
    const response = await svc.request("GET", "/metrics", { secret: null, headers });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual(UNAUTHORIZED);
  });

  test.each([
    ["X-Internal-Secret", { "x-internal-secret": TEST_SECRET }],
    ["Authorization: Bearer", { authorization: `Bearer ${TEST_SECRET}` }],
    ["an auditor's secret (metrics are a read)", { "x-internal-secret": AUDITOR_SECRET }],
  ])("200 Prometheus text with %s", async (_name, headers) => {
    const svc = await service();
    await svc.request("POST", CREATE_PATH, { body: createBody("OPP-SCRAPE-1") });
    const response = await svc.request("GET", "/metrics", { secret: null, headers });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/plain");
    const families = parseScrape(await response.text());
    expect(valueOf(families, REQUESTS, requests(CREATE_PATH, "POST", 200, "0"))).toBe(1);
    expect(valueOf(families, EVENTS, { type: "OpportunityCreated" })).toBe(1);
    expect(valueOf(families, "opportunity_opportunities")).toBe(1);
  });

  test("a Bearer token is accepted for /metrics only, not for the API", async () => {
    const svc = await service();
    const response = await svc.request("GET", "/api/opportunities/OPP-X", { secret: null, headers: { authorization: `Bearer ${TEST_SECRET}` } });
    expect(response.status).toBe(401);
  });

  test("scrapes count themselves with code 'none' (the answer is not an envelope), and failed ones with -1", async () => {
    const svc = await service();
    await svc.request("GET", "/metrics");
    await svc.request("GET", "/metrics", { secret: null });
    const families = await scrape(svc.metrics);
    expect(valueOf(families, REQUESTS, requests("/metrics", "GET", 200, "none"))).toBe(1);
    expect(valueOf(families, REQUESTS, requests("/metrics", "GET", 401, "-1"))).toBe(1);
  });
});
