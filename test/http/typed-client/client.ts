/**
 * A client an integrator would write: types generated from the served OpenAPI document by openapi-typescript
 * (./openapi-schema.d.ts, made by the test, never committed), calls through openapi-fetch. The test type-checks
 * this file against the generated types and runs it against the service. It uses every route, the forms of
 * input the service accepts, and narrows every answer by its code as a generated client must.
 */
import createClient from "openapi-fetch";
import type { paths } from "./openapi-schema";

export async function callEveryRoute(fetch: (request: Request) => Promise<Response>, secret: string, code: string) {
  const client = createClient<paths>({ baseUrl: "http://localhost", fetch, headers: { "X-Internal-Secret": secret } });
  const seen: Record<string, unknown> = {};

  const created = await client.POST("/api/opportunities/integration/create", {
    body: { opportunityCode: code, opportunityName: "类型化客户端", endCustomerName: "某市大数据局", salesExpansionId: "9007199254740993", amount: 1500000 },
  });
  // A success's data is the id, or with ?dryRun=true what the call would do: told apart by its type.
  if (created.data?.code === "0" && typeof created.data.data === "number") {
    const id: number = created.data.data;
    seen.createdId = id;
  }

  // Every form the service accepts must type-check: epoch milliseconds, lower case, a digit-string id, null.
  const updated = await client.PUT("/api/opportunities/integration/update", {
    params: { header: { "Idempotency-Key": `typed-${code}`, "If-Match": "*" } },
    body: { opportunityCode: code, omsPushTime: 1777520430000, confidencePct: "a", status: "WON", stage: "won", preSalesId: "42", description: null },
  });
  if (updated.data?.code === "0") seen.updatedId = updated.data.data;
  if (updated.data?.code === "-1") {
    const nothing: Record<string, never> | null = updated.data.data;
    seen.updateFailed = [updated.data.msg, nothing];
  }
  seen.etag = updated.response.headers.get("ETag");

  const tried = await client.PUT("/api/opportunities/integration/update", {
    params: { query: { dryRun: true } },
    body: { opportunityCode: code, amount: 1600000 },
  });
  if (tried.data?.code === "0" && typeof tried.data.data === "object") {
    const { version, changes } = tried.data.data;
    seen.dryRun = { version, amount: changes.amount, header: tried.response.headers.get("X-Dry-Run") };
  }

  const batch = await client.PUT("/api/opportunities/integration/batch-update", {
    body: { items: [{ opportunityCode: code, description: "批量" }, { opportunityCode: "NO-SUCH-CODE", amount: 1 }], allOrNone: false },
  });
  if (batch.data?.code === "0") {
    const { succeeded, failed, results } = batch.data.data;
    seen.batch = { succeeded, failed, results: results.map((result) => (result.code === "0" ? result.data : result.msg)) };
  }

  const record = await client.GET("/api/opportunities/{opportunityCode}", { params: { path: { opportunityCode: code } } });
  if (record.data?.code === "0") {
    const data = record.data.data;
    const status: "active" | "closed" | "won" | "lost" | null = data.status;
    const version: number = data.version;
    seen.record = { status, version, confidencePct: data.confidencePct, omsPushTime: data.omsPushTime };
  }
  const first = await client.GET("/api/opportunities/{opportunityCode}", { params: { path: { opportunityCode: code }, query: { version: 1 } } });
  if (first.data?.code === "0") seen.firstVersion = first.data.data.version;

  const missing = await client.GET("/api/opportunities/{opportunityCode}/history", { params: { path: { opportunityCode: "NO-SUCH-CODE" } } });
  if (missing.data?.code === "-1") seen.missingHistory = missing.data.msg;
  const history = await client.GET("/api/opportunities/{opportunityCode}/history", { params: { path: { opportunityCode: code }, query: { limit: 10 } } });
  if (history.data?.code === "0") {
    seen.history = history.data.data.items.map((item) => ({ version: item.version, type: item.type, fields: item.changes.map((change) => change.field) }));
  }

  const stages = await client.GET("/api/stages");
  if (stages.data?.code === "0") seen.stages = stages.data.data.map((stage) => stage.code);

  const feed = await client.GET("/api/events", { params: { query: { after: 0, limit: 1000 } } });
  if (feed.data?.code === "0") seen.feedHead = feed.data.data.head?.position ?? null;
  const stored = await client.GET("/api/events", { params: { query: { format: "stored", limit: 1 } } });
  if (stored.data?.code === "0") seen.storedKeys = stored.data.data.events.map((event) => Object.keys(event));

  const health = await client.GET("/healthz");
  if (health.data?.code === "0") {
    const ok: "ok" = health.data.data;
    seen.health = ok;
  }
  const ready = await client.GET("/readyz");
  if (ready.data?.code === "0") seen.ready = ready.data.data;
  const metrics = await client.GET("/metrics", { parseAs: "text" });
  seen.metricsHasEvents = typeof metrics.data === "string" && metrics.data.includes("opportunity_events_appended_total");

  const denied = await createClient<paths>({ baseUrl: "http://localhost", fetch }).GET("/api/stages");
  if (denied.error) seen.denied = [denied.response.status, denied.error.msg];
  return seen;
}
