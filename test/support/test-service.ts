import { join } from "node:path";
import { createApp, type App, type AppDeps } from "../../src/http/app";
import { SecretVerifier } from "../../src/secrets";
import { openServiceStore, type ServiceStore } from "../../src/service-store";
import { DEFAULT_STAGES, StageDictionary } from "../../src/stage-dictionary";
import { makeTempDir } from "./temp-dir";

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

export interface TestService extends ServiceStore {
  app: App;
  dbPath: string;
  /** Sends a request through app.handle (no socket). */
  request(method: string, path: string, options?: { body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<Response>;
  /** Closes the database and removes the temp directory. */
  dispose(): void;
}

/**
 * A real service on a temporary SQLite file, with integrator clients "oms" (TEST_SECRET) and "bidding"
 * (OTHER_CLIENT_SECRET) and the auditor "audit-firm" (AUDITOR_SECRET).
 */
export function startTestService(options: { now?: () => Date } = {}): TestService {
  const dir = makeTempDir();
  const dbPath = join(dir.path, "opportunities.db");
  const store = openServiceStore(dbPath, options);
  const app = createTestApp(store);
  return {
    ...store,
    app,
    dbPath,
    request(method, path, { body, rawBody, headers } = {}) {
      const init: RequestInit = {
        method,
        headers: { "content-type": "application/json", "x-internal-secret": TEST_SECRET, ...headers },
      };
      if (rawBody !== undefined) init.body = rawBody;
      else if (body !== undefined) init.body = JSON.stringify(body);
      return app.handle(new Request(`http://localhost${path}`, init));
    },
    dispose() {
      store.close();
      dir.cleanup();
    },
  };
}
