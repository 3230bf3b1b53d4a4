import { createApp, type App, type AppDeps } from "../../src/http/app";
import { SecretVerifier } from "../../src/secrets";
import { DEFAULT_STAGES, StageDictionary } from "../../src/stage-dictionary";
import { openSqliteTestBackend, openTestBackend, type Backend, type BackendOptions, type SqliteTestBackend, type TestBackend } from "./test-backend";

export const TEST_SECRET = "test-secret-0123456789abcdef";
export const OTHER_CLIENT_SECRET = "other-secret-0123456789abcdef";
/** A read-only client, "audit-firm". */
export const AUDITOR_SECRET = "auditor-secret-0123456789abcdef";
export const TIME_ZONE = "Asia/Shanghai";

const verifier = new SecretVerifier([
  { name: "oms", secret: TEST_SECRET, role: "integrator" },
  { name: "bidding", secret: OTHER_CLIENT_SECRET, role: "integrator" },
  { name: "audit-firm", secret: AUDITOR_SECRET, role: "auditor" },
]);
const stages = new StageDictionary(DEFAULT_STAGES);

/**
 * The HTTP app over a store's write path and read models, with the test clients: integrators "oms"
 * (TEST_SECRET) and "bidding" (OTHER_CLIENT_SECRET), the auditor "audit-firm" (AUDITOR_SECRET); the built-in
 * stages and TIME_ZONE. `extra` adds the rest of what serve wires (metrics, readiness, hooks) or overrides.
 */
export function createTestApp(parts: Pick<AppDeps, "writer" | "storage">, extra: Partial<AppDeps> = {}): App {
  return createApp({
    writer: parts.writer,
    storage: parts.storage,
    verifier: () => verifier,
    stages: () => stages,
    timeZone: TIME_ZONE,
    version: "test",
    ...extra,
  });
}

/** The request helper of every test service: sends through app.handle (no socket), as client "oms" by default. */
function requester(app: App): BackendService["request"] {
  return (method, path, { body, rawBody, headers } = {}) => {
    const init: RequestInit = {
      method,
      headers: { "content-type": "application/json", "x-internal-secret": TEST_SECRET, ...headers },
    };
    if (rawBody !== undefined) init.body = rawBody;
    else if (body !== undefined) init.body = JSON.stringify(body);
    return app.handle(new Request(`http://localhost${path}`, init));
  };
}

/** The HTTP app over a test database of either backend (test-backend.ts). */
export interface BackendService extends TestBackend {
  app: App;
  /** Sends a request through app.handle (no socket). */
  request(method: string, path: string, options?: { body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<Response>;
}

/**
 * A real service on a new test database of `backend` (default: this run's TEST_BACKEND), with the clients of
 * createTestApp. For the suites that hold for any backend.
 */
export async function startBackendService(options: BackendOptions & { backend?: Backend } = {}): Promise<BackendService> {
  const backend = await openTestBackend(options);
  const app = createTestApp(backend);
  return { ...backend, app, request: requester(app) };
}

/** The service on a SQLite file, with the SQLite store's synchronous helpers, for the tests about SQLite itself. */
export interface TestService extends Omit<BackendService, "kind" | "storage" | "writer">, SqliteTestBackend {}

/**
 * A real service on a temporary SQLite file, with integrator clients "oms" (TEST_SECRET) and "bidding"
 * (OTHER_CLIENT_SECRET) and the auditor "audit-firm" (AUDITOR_SECRET). `tempParent`: where its temporary
 * directory goes (default the system temp dir; see memoryTempParent in temp-dir.ts).
 */
export function startTestService(options: { now?: () => Date; tempParent?: string } = {}): TestService {
  const backend = openSqliteTestBackend({ now: options.now }, undefined, options.tempParent);
  const app = createTestApp(backend);
  return { ...backend, app, request: requester(app) };
}
