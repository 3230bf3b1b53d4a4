/**
 * Shared helpers of the operator tests: a service wired the way `serve` wires it (readiness, metrics fed by
 * the writer's commit observer, the instrumented handler) on this run's backend (startBackendOpsService) or on
 * a SQLite file (startOpsService), a stdout capture for the request log, and readers of the Prometheus text.
 */
import parsePrometheusTextFormat, { type OpsPrometheusFamily as PrometheusFamily, type OpsPrometheusSample as PrometheusSample } from "parse-prometheus-text-format";
import type { App } from "../../src/http/app";
import { instrument } from "../../src/http/instrument";
import { ServiceMetrics } from "../../src/metrics";
import { readinessProblem } from "../../src/readiness";
import type { ServiceStore } from "../../src/service-store";
import { openSqliteTestBackend, openTestBackend, type SqliteTestBackend, type TestBackend } from "../support/test-backend";
import { AUDITOR_SECRET, OTHER_CLIENT_SECRET, TEST_SECRET, createTestApp } from "../support/test-service";

export { AUDITOR_SECRET, OTHER_CLIENT_SECRET, TEST_SECRET };

export const UPDATE_PATH = "/api/opportunities/integration/update";
export const CREATE_PATH = "/api/opportunities/integration/create";
export const READ_ROUTE = "/api/opportunities/:opportunityCode";
export const HISTORY_ROUTE = "/api/opportunities/:opportunityCode/history";

export interface RequestOptions {
  body?: unknown;
  rawBody?: string;
  /** The X-Internal-Secret header; null leaves it out. Default: TEST_SECRET. */
  secret?: string | null;
  headers?: Record<string, string>;
}

/** The parts of a service wired the way serve wires them, over a test database of either backend. */
export interface OpsParts {
  app: App;
  metrics: ServiceMetrics;
  /** The app's handler wrapped by instrument(), exactly as serve hands it to Bun.serve. */
  handle: (request: Request) => Promise<Response>;
  request(method: string, path: string, options?: RequestOptions): Promise<Response>;
}

export interface BackendOpsService extends TestBackend, OpsParts {}

/** The app, metrics (fed by the writer's commits) and instrumented handler over `backend`, as serve builds them. */
function opsParts(backend: Pick<TestBackend, "kind" | "storage" | "writer">, readiness: () => string | null | Promise<string | null>): OpsParts {
  const dbPath = backend.kind === "sqlite" ? backend.storage.location : undefined;
  const metrics = new ServiceMetrics({ dbPath, countOpportunities: () => backend.storage.countOpportunities() });
  backend.writer.onCommit = (seconds, types) => metrics.recordCommit(seconds, types);
  const app = createTestApp(backend, { readiness, metrics });
  const handle = instrument((request) => app.handle(request), { routes: app.routeTable, metrics });
  return {
    app,
    metrics,
    handle,
    request(method, path, { body, rawBody, secret = TEST_SECRET, headers = {} } = {}) {
      const all = new Headers(headers);
      if (secret !== null) all.set("x-internal-secret", secret);
      const init: RequestInit = { method, headers: all };
      if (rawBody !== undefined || body !== undefined) {
        if (!all.has("content-type")) all.set("content-type", "application/json");
        init.body = rawBody ?? JSON.stringify(body);
      }
      return handle(new Request(`http://localhost${path}`, init));
    },
  };
}

/**
 * A real service on a new test database of this run's backend (TEST_BACKEND), readiness from the storage as in
 * serve, with clients "oms" (TEST_SECRET), "bidding" (OTHER_CLIENT_SECRET) and the auditor "audit-firm".
 */
export async function startBackendOpsService(): Promise<BackendOpsService> {
  const backend = await openTestBackend();
  return { ...backend, ...opsParts(backend, () => backend.storage.readiness()) };
}

export interface OpsService extends Omit<BackendOpsService, "kind" | "storage" | "writer">, SqliteTestBackend {
  dispose(): Promise<void>;
}

/**
 * The same on a temporary SQLite file, with the SQLite store's own parts, for the tests about SQLite itself.
 * `readiness` replaces the real check when given.
 */
export function startOpsService(options: { readiness?: (service: ServiceStore) => string | null } = {}): OpsService {
  const store = openSqliteTestBackend({}, "ops-test-");
  const readiness = options.readiness ?? ((service: ServiceStore) => readinessProblem(service.db));
  return { ...store, ...opsParts(store, () => readiness(store)) };
}

/** A valid create body. */
export const createBody = (code: string, extra: Record<string, unknown> = {}) => ({
  opportunityCode: code,
  opportunityName: `商机 ${code}`,
  endCustomerName: "某市大数据局",
  ...extra,
});

// ---- stdout capture

export interface Captured<T> {
  result: T;
  text: string;
  /** Every line, parsed as JSON (a line that is not JSON fails the test here). */
  lines: Record<string, unknown>[];
}

/**
 * Runs `work` with process.stdout.write replaced by a collector, and always puts the original back.
 */
export async function captureStdout<T>(work: () => Promise<T> | T): Promise<Captured<T>> {
  const original = process.stdout.write;
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    chunks.push(typeof chunk === "string" ? chunk : decoder.decode(chunk));
    const callback = rest.find((arg) => typeof arg === "function") as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof process.stdout.write;
  let result: T;
  try {
    result = await work();
  } finally {
    process.stdout.write = original;
  }
  const text = chunks.join("");
  const lines = text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`stdout line is not JSON: ${line}`);
      }
    });
  return { result, text, lines };
}

// ---- Prometheus text

/**
 * One scrape, parsed twice: as is, and with the histogram TYPE lines left out. parse-prometheus-text-format
 * 1.1.1 folds a histogram that has labels besides `le` into one sample (labels, count and sum lost), so
 * labelled histograms are read from their untyped `_bucket`, `_sum` and `_count` series instead.
 */
export interface Scrape {
  text: string;
  families: PrometheusFamily[];
  untyped: PrometheusFamily[];
}

export async function scrape(metrics: ServiceMetrics): Promise<Scrape> {
  return parseScrape(await metrics.registry.metrics());
}

export function parseScrape(text: string): Scrape {
  const untypedText = text
    .split("\n")
    .filter((line) => !/^# TYPE \S+ histogram$/.test(line))
    .join("\n");
  return { text, families: parsePrometheusTextFormat(text), untyped: parsePrometheusTextFormat(untypedText) };
}

export function family(scraped: Scrape, name: string): PrometheusFamily {
  const found = scraped.families.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no metric family ${name} in: ${scraped.families.map((f) => f.name).join(", ")}`);
  return found;
}

const sameLabels = (sample: PrometheusSample, labels: Record<string, string>) => {
  const have = sample.labels ?? {};
  const keys = Object.keys(labels);
  return Object.keys(have).length === keys.length && keys.every((key) => have[key] === labels[key]);
};

/** The samples named `name` whose labels are exactly `labels` (a name may come back as several families). */
function samplesIn(families: readonly PrometheusFamily[], name: string, labels: Record<string, string>): PrometheusSample[] {
  return families.filter((f) => f.name === name).flatMap((f) => f.metrics.filter((sample) => sameLabels(sample, labels)));
}

/** The value of a counter or gauge with exactly these labels; 0 when no such series exists yet. */
export function valueOf(scraped: Scrape, name: string, labels: Record<string, string> = {}): number {
  family(scraped, name);
  const [sample, ...more] = samplesIn(scraped.families, name, labels);
  if (more.length > 0) throw new Error(`${name} ${JSON.stringify(labels)} matches ${more.length + 1} series`);
  return sample === undefined ? 0 : Number(sample.value);
}

export interface HistogramSample {
  count: number;
  sum: number;
  /** Cumulative counts by upper bound (`le`). */
  buckets: Record<string, number>;
}

/** A histogram series with exactly these labels; zeros when it does not exist yet. */
export function histogramOf(scraped: Scrape, name: string, labels: Record<string, string> = {}): HistogramSample {
  if (family(scraped, name).type !== "HISTOGRAM") throw new Error(`${name} is not a histogram`);
  const one = (suffix: string) => {
    const [sample, ...more] = samplesIn(scraped.untyped, `${name}${suffix}`, labels);
    if (more.length > 0) throw new Error(`${name}${suffix} ${JSON.stringify(labels)} matches ${more.length + 1} series`);
    return sample === undefined ? 0 : Number(sample.value);
  };
  const buckets: Record<string, number> = {};
  for (const sample of scraped.untyped.filter((f) => f.name === `${name}_bucket`).flatMap((f) => f.metrics)) {
    const { le, ...rest } = sample.labels ?? {};
    if (le !== undefined && sameLabels({ labels: rest }, labels)) buckets[le] = Number(sample.value);
  }
  return { count: one("_count"), sum: one("_sum"), buckets };
}

/** Every label value of every series in the text, to prove what never appears in a label. */
export function allLabelValues(scraped: Scrape): string[] {
  return scraped.untyped.flatMap((f) => f.metrics.flatMap((sample) => Object.values(sample.labels ?? {})));
}
