import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { E2E_TIMEOUT, run, startServer, stop, useBinary, type Server } from "../support/binary";
import { makeTempDir } from "../support/temp-dir";

// The auditor's workflow against the compiled binary, on a database the service is serving at the same time.
const OMS = "oms-secret-0123456789abcdef";
const AUDITOR = "audit-secret-0123456789abcdef";
const dir = makeTempDir("opportunity-e2e-audit-");
const db = join(dir.path, "live.db");
let server: Server;

async function call(method: string, path: string, secret: string, body?: unknown) {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method,
    headers: { "content-type": "application/json", "x-internal-secret": secret },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { code: string; msg: string; data: any } };
}

const headOf = (stdout: string) => /^head (\d+:[0-9a-f]{64})$/m.exec(stdout)?.[1];

useBinary();

beforeAll(async () => {
  const secrets = join(dir.path, "secrets.json");
  writeFileSync(secrets, JSON.stringify([{ name: "oms", secret: OMS }, { name: "audit-firm", secret: AUDITOR, role: "auditor" }]));
  server = await startServer(["--db", db, "--secrets", secrets], dir.path);
  expect((await call("POST", "/api/opportunities/integration/create", OMS, { opportunityCode: "OPP-1", opportunityName: "一号", endCustomerName: "客户", stage: "lead" })).body.code).toBe("0");
  expect((await call("POST", "/api/opportunities/integration/create", OMS, { opportunityCode: "OPP-2", opportunityName: "二号", endCustomerName: "客户" })).body.code).toBe("0");
  expect((await call("PUT", "/api/opportunities/integration/update", OMS, { opportunityCode: "OPP-1", stage: "won", amount: 2800000 })).body.code).toBe("0");
}, E2E_TIMEOUT);

afterAll(async () => {
  if (server) await stop(server);
  dir.cleanup();
});

describe("auditor commands on a live database", () => {
  test("auditor secret reads history over HTTP but cannot write", async () => {
    const history = await call("GET", "/api/opportunities/OPP-1/history", AUDITOR);
    expect(history.body.code).toBe("0");
    expect(history.body.data.items.map((item: { version: number; actor: string }) => [item.version, item.actor])).toEqual([
      [1, "oms"],
      [2, "oms"],
    ]);
    const write = await call("PUT", "/api/opportunities/integration/update", AUDITOR, { opportunityCode: "OPP-1", stage: "lost" });
    expect(write.status).toBe(403);
    expect(write.body.msg).toContain("audit-firm");
    expect((await call("GET", "/api/opportunities/OPP-1", AUDITOR)).body.data.stage).toBe("won");
  }, E2E_TIMEOUT);

  test("history CODE prints who changed what, from what to what", async () => {
    const result = await run(["history", "OPP-1", "--db", db], dir.path);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("OPP-1: 2 event(s)");
    expect(result.stdout).toMatch(/v2 .*OpportunityUpdated {2}by oms/);
    expect(result.stdout).toMatch(/stage +lead → won/);
    expect(result.stdout).toMatch(/amount +— → 2800000/);
    const unknown = await run(["history", "NOPE", "--db", db], dir.path);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("商机不存在");
  }, E2E_TIMEOUT);

  test("export, verify, restore: the restored database has the same head; a later verify --expect-head still passes", async () => {
    const verified = await run(["verify", "--db", db], dir.path);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain("OK: 3 events, 2 opportunities");
    const head = headOf(verified.stdout);
    expect(head).toStartWith("3:");

    const exported = await run(["export", "--db", db], dir.path);
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trim().split("\n");
    expect(lines.map((line) => JSON.parse(line).position)).toEqual([1, 2, 3]);
    expect(JSON.parse(lines[2]!).hash).toBe(head!.slice(2));
    const file = join(dir.path, "events.ndjson");
    writeFileSync(file, exported.stdout);

    const restoredDb = join(dir.path, "restored.db");
    const restored = await run(["restore", file, "--db", restoredDb], dir.path);
    expect(restored.code).toBe(0);
    expect(headOf(restored.stdout)).toBe(head);
    const again = await run(["verify", "--db", restoredDb, "--expect-head", head!], dir.path);
    expect(again.code).toBe(0);

    // The service keeps writing; the kept head is still in the chain.
    expect((await call("PUT", "/api/opportunities/integration/update", OMS, { opportunityCode: "OPP-2", amount: 5 })).body.code).toBe("0");
    const later = await run(["verify", "--db", db, "--expect-head", head!], dir.path);
    expect(later.code).toBe(0);
    expect(later.stdout).toContain("OK: 4 events");

    const partial = await run(["export", "--db", db, "--after", "1", "--to", "3"], dir.path);
    expect(partial.stdout.trim().split("\n").map((line) => JSON.parse(line).position)).toEqual([2, 3]);
  }, E2E_TIMEOUT);

  test("rebuild while the service runs: reads keep answering and the table matches the events", async () => {
    const rebuilt = await run(["rebuild", "--db", db], dir.path);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toMatch(/rebuilt 2 opportunities from \d+ events/);
    const read = await call("GET", "/api/opportunities/OPP-1", OMS);
    expect(read.body.data).toMatchObject({ stage: "won", amount: 2800000, version: 2 });
    expect((await call("PUT", "/api/opportunities/integration/update", OMS, { opportunityCode: "OPP-1", description: "after rebuild" })).body.code).toBe("0");
    expect((await run(["verify", "--db", db], dir.path)).code).toBe(0);
  }, E2E_TIMEOUT);

  test("rebuild and verify with --threads: the binary's range threads start and give the same answers", async () => {
    const shared = await run(["rebuild", "--db", db, "--threads", "2"], dir.path);
    expect(shared.code).toBe(0);
    // Two opportunities, two ranges: the second folded by a thread of the binary's own code, which started.
    expect(shared.stdout).toMatch(/^rebuilt 2 opportunities from \d+ events in [\d.]+ s \(2 threads\)$/m);
    const alone = await run(["rebuild", "--db", db, "--threads", "1"], dir.path);
    expect(alone.stdout).toMatch(/\(1 thread\)$/m);
    const checked = await run(["verify", "--db", db, "--threads", "2"], dir.path);
    expect(checked.code).toBe(0);
    expect(headOf(checked.stdout)).toBe(headOf((await run(["verify", "--db", db, "--threads", "1"], dir.path)).stdout));
    const refused = await run(["verify", "--db", db, "--threads", "0"], dir.path);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--threads must be a whole number from 1 to 64");
  }, E2E_TIMEOUT);

  test("a removed tail is caught only against the kept head; restore refuses an existing target", async () => {
    const copy = join(dir.path, "copy.db");
    const exported = await run(["export", "--db", db], dir.path);
    const file = join(dir.path, "all.ndjson");
    writeFileSync(file, exported.stdout);
    expect((await run(["restore", file, "--db", copy], dir.path)).code).toBe(0);
    const head = headOf((await run(["verify", "--db", copy], dir.path)).stdout)!;
    const position = Number(head.split(":")[0]);

    const raw = new Database(copy);
    raw.run("DROP TRIGGER events_no_delete");
    raw.run(`DELETE FROM events WHERE position = ${position}`);
    raw.close();
    // Without the head the shorter chain is internally consistent except for the projection it left behind.
    const caught = await run(["verify", "--db", copy, "--expect-head", head], dir.path);
    expect(caught.code).toBe(1);
    expect(caught.stdout).toContain(`the chain ends at position ${position - 1}, before the expected head ${position}`);

    const refused = await run(["restore", file, "--db", copy], dir.path);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("already exists");
    expect(existsSync(copy)).toBe(true);
  }, E2E_TIMEOUT);
});

describe("error messages on the terminal", () => {
  test("a path holding control characters is echoed escaped, never raw", async () => {
    const forged = join(dir.path, "no\u001b[2J\nFAKE OK line.db");
    for (const command of ["verify", "history", "export"]) {
      const args = command === "history" ? [command, "OPP-1", "--db", forged] : [command, "--db", forged];
      const result = await run(args, dir.path);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain("no\\u001b[2J\\nFAKE OK line.db");
      expect(result.stderr.includes("\u001b")).toBe(false);
      expect(result.stderr.split("\n").some((line) => line.startsWith("FAKE OK"))).toBe(false);
    }
  }, E2E_TIMEOUT);
});
