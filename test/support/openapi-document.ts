/**
 * The OpenAPI document as the service serves it, with every route present (/metrics included), and the
 * lookups the document tests share: which operation and which documented response an answer belongs to.
 */
import { ServiceMetrics } from "../../src/metrics";
import type { App } from "../../src/http/app";
import { describe, test } from "bun:test";
import { openTestBackend, TEST_BACKEND, type TestBackend } from "./test-backend";
import { createTestApp } from "./test-service";

export type Json = Record<string, any>;

/** The app of a test backend with metrics on, as the binary runs it. */
export function fullApp(backend: Pick<TestBackend, "writer" | "storage">, extra: Parameters<typeof createTestApp>[1] = {}): App {
  const metrics = new ServiceMetrics({ countOpportunities: () => backend.storage.countOpportunities() });
  return createTestApp(backend, { metrics, ...extra });
}

export async function servedDocument(app: App): Promise<Json> {
  const response = await app.handle(new Request("http://localhost/swagger/json"));
  if (response.status !== 200) throw new Error(`/swagger/json answered ${response.status}`);
  return (await response.json()) as Json;
}

/** The document's path template that a request path falls under ("/api/opportunities/{opportunityCode}"). */
export function templateOf(doc: Json, path: string): string | undefined {
  const segments = path.split("/");
  return Object.keys(doc.paths).find((template) => {
    const parts = template.split("/");
    return parts.length === segments.length && parts.every((part, index) => /^\{.+\}$/.test(part) || part === segments[index]);
  });
}

/**
 * The documented response for an answer to `method path` with `status`. A 405 is the answer to a method the
 * path does not have, so it is looked up under the path's own operations.
 */
export function documentedResponse(doc: Json, method: string, path: string, status: number): Json | undefined {
  const template = templateOf(doc, path);
  if (!template) return undefined;
  const operations = doc.paths[template] as Record<string, Json>;
  const operation = operations[method.toLowerCase()] ?? (status === 405 ? Object.values(operations)[0] : undefined);
  return operation?.responses?.[String(status)];
}

/**
 * The document is the same on every backend: it is built from the route definitions and the app's settings
 * (version, stages, body limit, metrics), none of which is the storage's (createApp hands the storage to the
 * route handlers only). So a test of the document alone, not of the answers, runs once, in the SQLite run of
 * `make test`, and shows as skipped in the PostgreSQL run; the PostgreSQL run instead checks, with
 * `documentOnSqlite`, that its document is the SQLite one (what the skipped tests checked there).
 */
export const documentOnly = { test: test.skipIf(TEST_BACKEND !== "sqlite"), describe: describe.skipIf(TEST_BACKEND !== "sqlite") };

/** The document an app of the same settings serves over a new SQLite database (removed afterwards). */
export async function documentOnSqlite(extra: Parameters<typeof createTestApp>[1] = {}): Promise<Json> {
  const sqlite = await openTestBackend({ backend: "sqlite" });
  try {
    return await servedDocument(fullApp(sqlite, extra));
  } finally {
    await sqlite.dispose();
  }
}
