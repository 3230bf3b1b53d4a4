import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { E2E_TIMEOUT, run as runIn, startServer, stop, useBinary } from "../support/binary";
import { makeTempDir } from "../support/temp-dir";

const run = (args: string[], cwd = work.path, env: Record<string, string> = {}) => runIn(args, cwd, env);

// The compiled binary, end to end: built from the current sources (test/support/binary.ts) and run from
// directories with no node_modules, as an operator would.
const work = makeTempDir("opportunity-e2e-");

const CONTRACT_BODY = `{
    "opportunityCode": "OPP-20260401-001",
    "stage": "won",
    "status": "won",
    "confidencePct": "A",
    "amount": 2800000,
    "expectedCloseDate": "2026-04-30",
    "description": "外部系统回写成交结果"
  }`;

useBinary();
afterAll(() => work.cleanup());

describe("compiled binary", () => {
  test("--help and --version answer for the binary and each command", async () => {
    const top = await run(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain("serve");
    expect(top.stdout).toContain("import FILE");
    const serve = await run(["serve", "--help"]);
    expect(serve.code).toBe(0);
    for (const flag of ["--port", "--host", "--db", "--secrets", "--stages", "--demo", "PORT", "HOST", "DB_PATH", "SECRETS_FILE", "STAGES_FILE"]) {
      expect(serve.stdout).toContain(flag);
    }
    const importHelp = await run(["import", "--help"]);
    expect(importHelp.code).toBe(0);
    expect(importHelp.stdout).toContain("NDJSON");
    expect(importHelp.stdout).toContain("--db");
    const version = await run(["--version"]);
    expect(version.stdout.trim()).toMatch(/^opportunity-service \d+\.\d+\.\d+ \(commit e2e-test\)$/);
  }, E2E_TIMEOUT);

  test("a port already taken stops the second server at once with exit code 2, nothing left running", async () => {
    const dir = makeTempDir("opportunity-e2e-port-");
    try {
      const env = { INTERNAL_SECRET: "port-secret-0123456789abcdef" };
      const first = await startServer(["--db", join(dir.path, "one.db")], dir.path, env);
      const port = new URL(first.baseUrl).port;
      const second = await run(["serve", "--port", port, "--host", "127.0.0.1", "--db", join(dir.path, "two.db")], dir.path, env);
      expect(second.code).toBe(2);
      expect(second.stderr).toContain(`cannot listen on 127.0.0.1:${port}`);
      expect(await stop(first)).toBe(0);
    } finally {
      dir.cleanup();
    }
  }, E2E_TIMEOUT);

  test("a bad flag is a usage error with exit code 2", async () => {
    const result = await run(["serve", "--no-such-flag"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("no-such-flag");
    const port = await run(["serve", "--port", "99999"]);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain("--port");
  }, E2E_TIMEOUT);

  test("serve on a fresh database: generated secret, contract curl example succeeds, event written, SIGTERM exits 0", async () => {
    const dir = makeTempDir("opportunity-e2e-serve-");
    try {
      expect(existsSync(join(dir.path, "node_modules"))).toBe(false);
      const server = await startServer(["--demo"], dir.path);
      const dbPath = join(dir.path, "data", "opportunities.db");
      const secretPath = `${dbPath}.secret`;
      const secret = (await Bun.file(secretPath).text()).trim();
      expect(secret).toMatch(/^[0-9a-f]{64}$/);
      expect(statSync(secretPath).mode & 0o777).toBe(0o600);
      expect(server.output()).toContain(`X-Internal-Secret: ${secret}`);

      const response = await fetch(`${server.baseUrl}/api/opportunities/integration/update`, {
        method: "PUT",
        headers: { "Content-Type": "application/json", "X-Internal-Secret": secret },
        body: CONTRACT_BODY,
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/json;charset=UTF-8");
      const envelope = (await response.json()) as { code: string; msg: string; data: number };
      expect(envelope).toEqual({ code: "0", msg: "success", data: expect.any(Number) });

      const unauthorized = await fetch(`${server.baseUrl}/api/opportunities/integration/update`, {
        method: "PUT",
        headers: { "Content-Type": "application/json", "X-Internal-Secret": "wrong" },
        body: CONTRACT_BODY,
      });
      expect(unauthorized.status).toBe(401);
      expect(await unauthorized.json()).toEqual({ code: "-1", msg: "内部接口鉴权失败", data: null });

      const scalar = await fetch(`${server.baseUrl}/swagger/assets/scalar.js`);
      expect(scalar.status).toBe(200);
      expect((await scalar.arrayBuffer()).byteLength).toBeGreaterThan(100_000);

      expect(await stop(server)).toBe(0);

      const db = new Database(dbPath, { readonly: true });
      try {
        const last = db.query<{ type: string; stream_id: string; data: string; metadata: string }, []>(
          "SELECT type, stream_id, data, metadata FROM events ORDER BY position DESC LIMIT 1",
        ).get()!;
        expect(last.type).toBe("OpportunityUpdated");
        expect(last.stream_id).toBe("OPP-20260401-001");
        const data = JSON.parse(last.data) as { changes: Record<string, unknown> };
        expect(data.changes).toEqual({
          amount: 2800000,
          confidencePct: "A",
          description: "外部系统回写成交结果",
          expectedCloseDate: "2026-04-30",
          stage: "won",
          status: "won",
        });
        expect(JSON.parse(last.metadata).actor).toBe("default");
        expect(last.metadata).not.toContain(secret);
        const row = db.query<{ id: number; stage: string; amount: number }, []>("SELECT id, stage, amount FROM opportunities WHERE code = 'OPP-20260401-001'").get()!;
        expect(row).toEqual({ id: envelope.data, stage: "won", amount: 2800000 });
      } finally {
        db.close();
      }

      // A second start reuses the saved secret and does not print it again.
      const again = await startServer([], dir.path);
      expect(again.output()).not.toContain(secret);
      expect(again.output()).toContain("opportunities.db.secret");
      expect(await stop(again)).toBe(0);
    } finally {
      dir.cleanup();
    }
  }, E2E_TIMEOUT);

  test("INTERNAL_SECRET and --db from the environment and flags; plain serve adds no data", async () => {
    const dir = makeTempDir("opportunity-e2e-env-");
    try {
      const dbPath = join(dir.path, "elsewhere", "crm.db");
      const server = await startServer(["--db", dbPath], dir.path, { INTERNAL_SECRET: "env-secret-0123456789abcdef" });
      const response = await fetch(`${server.baseUrl}/api/opportunities/OPP-20260401-001`, { headers: { "X-Internal-Secret": "env-secret-0123456789abcdef" } });
      expect(await response.json()).toEqual({ code: "-1", msg: "商机不存在", data: null });
      expect(await stop(server)).toBe(0);
      expect(existsSync(dbPath)).toBe(true);
      expect(existsSync(`${dbPath}.secret`)).toBe(false);
    } finally {
      dir.cleanup();
    }
  }, E2E_TIMEOUT);

  test("another process holding the write lock: a lone write waits for it off the HTTP thread, which keeps answering", async () => {
    const dir = makeTempDir("opportunity-e2e-lock-");
    const secret = "lock-secret-0123456789abcdef";
    const headers = { "X-Internal-Secret": secret, "content-type": "application/json" };
    try {
      const dbPath = join(dir.path, "crm.db");
      const server = await startServer(["--db", dbPath], dir.path, { INTERNAL_SECRET: secret });
      const create = await fetch(`${server.baseUrl}/api/opportunities/integration/create`, {
        method: "POST",
        headers,
        body: JSON.stringify({ opportunityCode: "OPP-LOCKED", opportunityName: "锁", endCustomerName: "客户" }),
      });
      expect(((await create.json()) as { code: string }).code).toBe("0");
      // An import beside the server, in the middle of a long transaction.
      const other = new Database(dbPath);
      other.run("BEGIN IMMEDIATE");
      other.run("INSERT INTO idempotency_keys (client, key, fingerprint, outcome, created_at) VALUES ('other', 'k', 'f', '{}', '2026-01-01T00:00:00.000Z')");
      const update = fetch(`${server.baseUrl}/api/opportunities/integration/update`, {
        method: "PUT",
        headers,
        body: JSON.stringify({ opportunityCode: "OPP-LOCKED", amount: 42 }),
      });
      // While the write waits for the lock, health checks and reads are answered at once.
      for (let n = 0; n < 5; n++) {
        const started = performance.now();
        expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
        expect(performance.now() - started).toBeLessThan(500);
        await Bun.sleep(100);
      }
      other.run("COMMIT");
      other.close();
      expect(await (await update).json()).toEqual({ code: "0", msg: "success", data: 1 });
      const read = await fetch(`${server.baseUrl}/api/opportunities/OPP-LOCKED`, { headers });
      expect(((await read.json()) as { data: unknown }).data).toMatchObject({ amount: 42, version: 2 });
      expect(await stop(server)).toBe(0);
    } finally {
      dir.cleanup();
    }
  }, E2E_TIMEOUT);

  test("import creates valid NDJSON lines and reports each rejected line with its number", async () => {
    const dir = makeTempDir("opportunity-e2e-import-");
    try {
      const file = join(dir.path, "opportunities.ndjson");
      writeFileSync(
        file,
        [
          JSON.stringify({ opportunityCode: "IMP-1", opportunityName: "项目一", endCustomerName: "客户一", amount: 100 }),
          JSON.stringify({ opportunityCode: "IMP-2", opportunityName: "项目二", endCustomerName: "客户二", stage: "nope" }),
          "",
          "{not json",
          JSON.stringify({ opportunityCode: "IMP-1", opportunityName: "重复", endCustomerName: "客户" }),
          JSON.stringify({ opportunityCode: "IMP-3", opportunityName: "项目三", endCustomerName: "客户三", salesExpansionId: "9223372036854775807" }),
        ].join("\n"),
      );
      const dbPath = join(dir.path, "import.db");
      const result = await run(["import", file, "--db", dbPath], dir.path);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain("2 created, 3 rejected");
      expect(result.stderr).toContain("line 2: 项目阶段无效: nope");
      expect(result.stderr).toContain("line 4: 不是合法的 JSON");
      expect(result.stderr).toContain("line 5: 商机编号已存在: IMP-1");
      expect(result.stderr).not.toContain("line 1:");
      expect(result.stderr).not.toContain("line 6:");

      const db = new Database(dbPath, { readonly: true });
      try {
        const rows = db.query<{ code: string; sales_expansion_id: bigint | null }, []>("SELECT code, sales_expansion_id FROM opportunities ORDER BY id").safeIntegers(true).all();
        expect(rows).toEqual([
          { code: "IMP-1", sales_expansion_id: null },
          { code: "IMP-3", sales_expansion_id: 9223372036854775807n },
        ]);
        const actors = db.query<{ metadata: string }, []>("SELECT metadata FROM events").all().map((row) => JSON.parse(row.metadata).actor);
        expect(actors).toEqual(["import", "import"]);
      } finally {
        db.close();
      }

      const missing = await run(["import", join(dir.path, "missing.ndjson"), "--db", dbPath], dir.path);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain("missing.ndjson");
    } finally {
      dir.cleanup();
    }
  }, E2E_TIMEOUT);
});
