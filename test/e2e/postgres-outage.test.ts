import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EventRow } from "../../events/stored-event";
import { openPostgresStorage } from "../../src/storage/postgres/storage";
import { startServer, stop, useBinary, type Server } from "../support/binary";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { makeTempDir } from "../support/temp-dir";
import { api } from "./operations-support";

// PostgreSQL stopped under load, then started again: the compiled binary answers 503 with Retry-After (never a
// 500, never a success for a write that did not commit), /readyz turns red, and it recovers by itself.

const SECRET = "pg-outage-secret-0123456789abcdef";
const CODES = Array.from({ length: 10 }, (_, index) => `PG-OUT-${index + 1}`);
const OUTAGE_TIMEOUT = 120_000;
const work = makeTempDir("opportunity-e2e-pg-outage-");
let database: TestDatabase;
let server: Server;

const cluster = () => readdirSync("/etc/postgresql")[0]!;
const isRunning = () => Bun.spawnSync(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]).exitCode === 0;
function pgctl(action: "stop" | "start"): void {
  if (action === "start" && isRunning()) return;
  const result = Bun.spawnSync(["pg_ctlcluster", "--skip-systemctl-redirect", cluster(), "main", action], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`pg_ctlcluster ${action} failed: ${result.stdout.toString()} ${result.stderr.toString()}`);
}

useBinary();
beforeAll(async () => {
  database = await createTestDatabase();
  const secrets = join(work.path, "secrets.json");
  writeFileSync(secrets, JSON.stringify([{ name: "oms", secret: SECRET }]), { mode: 0o600 });
  server = await startServer(["--db", database.url, "--secrets", secrets], work.path);
}, OUTAGE_TIMEOUT);
afterAll(async () => {
  // Whatever happened, the machine's PostgreSQL is left running for everything after this file.
  pgctl("start");
  if (server) await stop(server);
  await database?.drop();
  work.cleanup();
});

async function call(method: string, path: string, body?: unknown) {
  const answer = await api(server.baseUrl, method, path, { secret: SECRET, body });
  return { status: answer.status, retryAfter: answer.headers.get("retry-after"), body: answer.body };
}

async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await Bun.sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("PostgreSQL stopped and started under load", () => {
  test("503s with Retry-After in the gap, red readiness, recovery without a restart, nothing lost or doubled", async () => {
    for (const code of CODES) expect((await call("POST", "/api/opportunities/integration/create", { opportunityCode: code, opportunityName: code, endCustomerName: "客户" })).body.code).toBe("0");
    const acknowledged: string[] = [];
    const unexpected: unknown[] = [];
    let running = true;
    const load = Array.from({ length: 8 }, async (_, client) => {
      for (let round = 0; running; round++) {
        const code = CODES[(client + round) % CODES.length]!;
        const amount = 100_000 + client * 100_000 + round;
        const answer = await call("PUT", "/api/opportunities/integration/update", { opportunityCode: code, amount });
        if (answer.status === 200 && answer.body.code === "0") acknowledged.push(`${code} ${amount}`);
        else if (!(answer.status === 503 && answer.retryAfter === "5" && answer.body.code === "-1")) unexpected.push(answer);
        await Bun.sleep(5);
      }
    });

    await Bun.sleep(300);
    pgctl("stop");
    await waitUntil(async () => (await call("GET", "/readyz")).status === 503, "/readyz to turn red");
    const refused = await call("PUT", "/api/opportunities/integration/update", { opportunityCode: CODES[0], amount: 1 });
    expect({ status: refused.status, retryAfter: refused.retryAfter, code: refused.body.code }).toEqual({ status: 503, retryAfter: "5", code: "-1" });
    expect(refused.body.msg).toMatch(/[\u4e00-\u9fff]/);
    const readWhileDown = await call("GET", `/api/opportunities/${CODES[0]}`);
    expect(readWhileDown.status).toBe(503);

    pgctl("start");
    await waitUntil(async () => (await call("GET", "/readyz")).status === 200, "/readyz to turn green again");
    await Bun.sleep(300);
    running = false;
    await Promise.all(load);

    expect(unexpected).toEqual([]);
    const after = await call("PUT", "/api/opportunities/integration/update", { opportunityCode: CODES[0], amount: 7_777 });
    expect(after.body.code).toBe("0");
    acknowledged.push(`${CODES[0]} 7777`);

    const storage = await openPostgresStorage(database.url);
    try {
      const rows: EventRow[] = await storage.readRowsAfter(0, 100_000);
      expect(rows.map((row) => row.position)).toEqual(rows.map((_, index) => index + 1));
      const stored = rows.filter((row) => row.type === "OpportunityUpdated").map((row) => `${row.stream_id} ${JSON.parse(row.data).changes.amount}`);
      for (const entry of acknowledged) expect(stored.filter((one) => one === entry)).toHaveLength(1);
      // Only acknowledged updates were stored, or ones whose answer was lost with the connection: never more.
      expect(stored.length).toBeGreaterThanOrEqual(acknowledged.length);
    } finally {
      await storage.close();
    }
  }, OUTAGE_TIMEOUT);
});
