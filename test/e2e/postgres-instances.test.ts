import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ChainWalker } from "../../events/verify-chain";
import type { EventRow } from "../../events/stored-event";
import { openPostgresStorage, type PostgresStorage } from "../../src/storage/postgres/storage";
import { E2E_TIMEOUT, run, startServer, stop, useBinary, type Server } from "../support/binary";
import { createTestDatabase, type TestDatabase } from "../support/postgres";
import { makeTempDir } from "../support/temp-dir";
import { api } from "./operations-support";

// The compiled binary on PostgreSQL: two instances on one database behind (in effect) one load balancer, the way
// the README tells operators to run them. Every answer "0" must be one event, once, in one gapless chain.

const SECRET = "pg-e2e-secret-0123456789abcdef";
const CODES = Array.from({ length: 50 }, (_, index) => `PG-E2E-${String(index + 1).padStart(3, "0")}`);
const CLIENTS = 64;
const UPDATES_PER_CLIENT = 12;

const work = makeTempDir("opportunity-e2e-postgres-");
let database: TestDatabase;
let a: Server;
let b: Server;

useBinary();
beforeAll(async () => {
  database = await createTestDatabase();
  const secrets = join(work.path, "secrets.json");
  writeFileSync(secrets, JSON.stringify([{ name: "oms", secret: SECRET }]), { mode: 0o600 });
  // One instance from --db, the other from DATABASE_URL: both ways an operator names the database.
  [a, b] = await Promise.all([
    startServer(["--db", database.url, "--secrets", secrets], work.path),
    startServer(["--secrets", secrets], work.path, { DATABASE_URL: database.url }),
  ]);
}, E2E_TIMEOUT);
afterAll(async () => {
  for (const server of [a, b]) if (server) await stop(server);
  await database?.drop();
  work.cleanup();
});

const call = (server: Server, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  api(server.baseUrl, method, path, { secret: SECRET, body, headers });

const create = (server: Server, code: string) => call(server, "POST", "/api/opportunities/integration/create", { opportunityCode: code, opportunityName: `商机 ${code}`, endCustomerName: "PG 客户", amount: 1 });
const update = (server: Server, body: Record<string, unknown>, headers?: Record<string, string>) => call(server, "PUT", "/api/opportunities/integration/update", body, headers);

async function allRows(storage: PostgresStorage): Promise<EventRow[]> {
  const rows: EventRow[] = [];
  for (;;) {
    const page = await storage.readRowsAfter(rows.length === 0 ? 0 : rows[rows.length - 1]!.position, 5000);
    rows.push(...page);
    if (page.length < 5000) return rows;
  }
}

describe("two instances of the binary on one PostgreSQL database", () => {
  test("both are ready, and the start-up log names the backend with the URL's password masked", async () => {
    for (const server of [a, b]) expect((await call(server, "GET", "/readyz")).body).toEqual({ code: "0", msg: "success", data: "ready" });
    expect(a.output()).toContain('"backend":"postgres"');
  }, E2E_TIMEOUT);

  test("64 clients over both update 50 opportunities: gapless positions and versions, one chain, one event per change", async () => {
    for (const code of CODES) expect((await create(code.endsWith("1") ? a : b, code)).body.code).toBe("0");
    let changed = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, client) => {
        for (let round = 0; round < UPDATES_PER_CLIENT; round++) {
          // A value no other request sends: every success is a real change, so exactly one event.
          const amount = 1_000 + client * UPDATES_PER_CLIENT + round;
          const answer = await update(client % 2 === 0 ? a : b, { opportunityCode: CODES[(client + round) % CODES.length], amount });
          expect({ status: answer.status, code: answer.body.code }).toEqual({ status: 200, code: "0" });
          changed += 1;
        }
      }),
    );
    const storage = await openPostgresStorage(database.url);
    try {
      const rows = await allRows(storage);
      expect(rows.map((row) => row.position)).toEqual(rows.map((_, index) => index + 1));
      const walker = new ChainWalker();
      for (const row of rows) expect(walker.check(row)).toBeNull();
      const versions = new Map<string, number>();
      for (const row of rows) {
        expect(row.version).toBe((versions.get(row.stream_id) ?? 0) + 1);
        versions.set(row.stream_id, row.version);
      }
      expect(rows.filter((row) => row.type === "OpportunityUpdated").length).toBe(changed);
      expect(rows.filter((row) => row.type === "OpportunityCreated").length).toBe(CODES.length);
    } finally {
      await storage.close();
    }
  }, E2E_TIMEOUT);

  test("a write answered by one instance is read by the other at once; If-Match conflicts across them", async () => {
    const code = CODES[0]!;
    const written = await update(a, { opportunityCode: code, description: "written on A" });
    const read = await call(b, "GET", `/api/opportunities/${code}`);
    expect({ description: read.body.data.description, version: read.body.data.version, etag: read.headers.get("etag") }).toEqual({
      description: "written on A",
      version: written.body.data === read.body.data.id ? read.body.data.version : -1,
      etag: `"${read.body.data.version}"`,
    });
    const stale = `"${read.body.data.version - 1}"`;
    const conflict = await update(b, { opportunityCode: code, amount: 7 }, { "if-match": stale });
    expect(conflict.body).toEqual({ code: "-1", msg: `商机已被修改，当前版本为 ${read.body.data.version}`, data: null });
  }, E2E_TIMEOUT);

  test("the same Idempotency-Key sent to A and then to B writes once; B answers A's result as a replay", async () => {
    const headers = { "idempotency-key": "pg-e2e-key-1" };
    const first = await update(a, { opportunityCode: CODES[1], amount: 424_242 }, headers);
    const second = await update(b, { opportunityCode: CODES[1], amount: 424_242 }, headers);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    const history = await call(b, "GET", `/api/opportunities/${CODES[1]}/history?limit=1000`);
    const keyed = history.body.data.items.filter((item: { changes: { field: string; to: unknown }[] }) => item.changes.some((change) => change.field === "amount" && change.to === 424_242));
    expect(keyed).toHaveLength(1);
  }, E2E_TIMEOUT);

  test("export from PostgreSQL restores into a SQLite file with the same head, which verifies", async () => {
    const exported = await run(["export", "--db", database.url], work.path);
    expect({ code: exported.code, stderr: exported.stderr }).toEqual({ code: 0, stderr: "" });
    const file = join(work.path, "from-postgres.ndjson");
    writeFileSync(file, exported.stdout);
    const target = join(work.path, "from-postgres.db");
    const restored = await run(["restore", file, "--db", target], work.path);
    expect(restored.code).toBe(0);
    const head = (await call(a, "GET", "/api/events?after=0&limit=1")).body.data.head;
    expect(restored.stdout).toContain(`head ${head.position}:${head.hash}`);
    const verified = await run(["verify", "--db", target, "--expect-head", `${head.position}:${head.hash}`], work.path);
    expect(verified.code).toBe(0);
    const sqlite = new Database(target, { readonly: true });
    try {
      expect(sqlite.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM opportunities").get()!.n).toBe(CODES.length);
    } finally {
      sqlite.close();
    }
  }, E2E_TIMEOUT);

  test("verify, rebuild and backup run on the live PostgreSQL database too, never echoing the URL's password", async () => {
    const withPassword = database.url.replace("postgres@", "postgres:hunter2secret@");
    const head = (await call(a, "GET", "/api/events?after=0&limit=1")).body.data.head;
    const results = [
      await run(["verify", "--db", withPassword, "--expect-head", `${head.position}:${head.hash}`], work.path),
      await run(["rebuild", "--db", withPassword], work.path),
      await run(["backup", join(work.path, "live.ndjson"), "--db", withPassword], work.path),
    ];
    for (const result of results) {
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
      expect(result.stdout).not.toContain("hunter2secret");
    }
    expect(results[0]!.stdout).toContain(`head ${head.position}:${head.hash}`);
    expect(results[1]!.stdout).toStartWith(`rebuilt ${CODES.length} opportunities from ${head.position} events`);
    expect(results[2]!.stdout).toContain(`head ${head.position}:${head.hash}`);
    const refused = await run(["backup", join(work.path, "live.ndjson"), "--db", withPassword], work.path);
    expect(refused.code).toBe(2);
    expect(refused.stderr).not.toContain("hunter2secret");
  }, E2E_TIMEOUT);
});

describe("one instance killed under load", () => {
  test("SIGKILL of one instance: the other keeps serving, and every update answered 0 by either is stored exactly once", async () => {
    const secrets = join(work.path, "secrets.json");
    const c = await startServer(["--db", database.url, "--secrets", secrets], work.path);
    const acknowledged: { code: string; amount: number }[] = [];
    let afterKill = 0;
    let killed = false;
    const load = Array.from({ length: 16 }, async (_, client) => {
      for (let round = 0; round < 40; round++) {
        const server = client % 2 === 0 ? b : c;
        const code = CODES[(client * 7 + round) % CODES.length]!;
        const amount = 5_000_000 + client * 1000 + round;
        try {
          const answer = await update(server, { opportunityCode: code, amount });
          if (answer.body.code === "0") acknowledged.push({ code, amount });
          if (killed && server === b) {
            expect(answer.body.code).toBe("0");
            afterKill += 1;
          }
        } catch {
          // The killed instance's connections fail: the request's outcome is unknown to this client.
          expect(server).toBe(c);
        }
        if (client === 1 && round === 10) {
          c.child.kill("SIGKILL");
          killed = true;
        }
      }
    });
    await Promise.all(load);
    expect(afterKill).toBeGreaterThan(0);
    const storage = await openPostgresStorage(database.url);
    try {
      const rows = await allRows(storage);
      const stored = rows.filter((row) => row.type === "OpportunityUpdated").map((row) => `${row.stream_id} ${JSON.parse(row.data).changes.amount}`);
      for (const { code, amount } of acknowledged) expect(stored.filter((entry) => entry === `${code} ${amount}`)).toHaveLength(1);
      expect(rows.map((row) => row.position)).toEqual(rows.map((_, index) => index + 1));
    } finally {
      await storage.close();
    }
  }, E2E_TIMEOUT);
});

describe("serve on PostgreSQL refuses what cannot work", () => {
  test("without a configured secret (a generated one would differ per instance): exit 2, saying so", async () => {
    const result = await run(["serve", "--port", "0", "--db", database.url], work.path);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("on PostgreSQL give the secrets");
  }, E2E_TIMEOUT);
});
