import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { E2E_TIMEOUT, run, startServer, useBinary } from "../support/binary";
import { makeTempDir } from "../support/temp-dir";

// Auditors are often handed the database on a read-only mount. verify, export and history must open it there:
// a database closed cleanly (no write-ahead log left), and one copied while live (its -wal and -shm beside it).
// A write-ahead log without its -shm cannot be read safely there: refused with what to do, never read partly.
// The read-only mount is a real one (mount --bind -o ro): tests run as root, for whom chmod 0555 denies nothing.
// Where mounting is not permitted, these tests are skipped.

const SECRET = "ro-secret-0123456789abcdef";
const dir = makeTempDir("opportunity-e2e-readonly-");
const source = join(dir.path, "source");
const mounts: string[] = [];

function mountable(): boolean {
  const probe = join(dir.path, "probe");
  mkdirSync(probe);
  const mounted = Bun.spawnSync(["mount", "--bind", "-o", "ro", source, probe], { stderr: "pipe" }).exitCode === 0;
  if (mounted) Bun.spawnSync(["umount", probe]);
  return mounted;
}

/** `from` (a directory) mounted read-only at a new path. */
function readOnlyCopyOf(from: string, name: string): string {
  const at = join(dir.path, name);
  mkdirSync(at);
  const result = Bun.spawnSync(["mount", "--bind", "-o", "ro", from, at], { stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`mount failed: ${result.stderr.toString()}`);
  mounts.push(at);
  // Proof that it is read-only for root too.
  expect(() => writeFileSync(join(at, "probe"), "x")).toThrow();
  return at;
}

mkdirSync(source, { recursive: true });
const canMount = mountable();

useBinary();

async function write(baseUrl: string, method: string, path: string, body: unknown) {
  const response = await fetch(`${baseUrl}${path}`, { method, headers: { "content-type": "application/json", "x-internal-secret": SECRET }, body: JSON.stringify(body) });
  expect(((await response.json()) as { code: string }).code).toBe("0");
}

/** A database with 3 events written by a server killed with SIGKILL: the events are in the -wal file only. */
async function killedServerDatabase(into: string): Promise<string> {
  mkdirSync(into, { recursive: true });
  const db = join(into, "live.db");
  const server = await startServer(["--db", db], into, { INTERNAL_SECRET: SECRET });
  await write(server.baseUrl, "POST", "/api/opportunities/integration/create", { opportunityCode: "RO-1", opportunityName: "只读", endCustomerName: "客户" });
  await write(server.baseUrl, "POST", "/api/opportunities/integration/create", { opportunityCode: "RO-2", opportunityName: "二", endCustomerName: "客户" });
  await write(server.baseUrl, "PUT", "/api/opportunities/integration/update", { opportunityCode: "RO-1", stage: "won" });
  server.child.kill("SIGKILL");
  await server.child.exited;
  expect(statSync(`${db}-wal`).size).toBeGreaterThan(0);
  expect(existsSync(`${db}-shm`)).toBe(true);
  return db;
}

afterAll(() => {
  for (const at of mounts.reverse()) Bun.spawnSync(["umount", at]);
  dir.cleanup();
});

describe.skipIf(!canMount)("verify, export and history on a read-only mount", () => {
  let head = "";

  beforeAll(async () => {
    const db = await killedServerDatabase(join(source, "clean"));
    const verified = await run(["verify", "--db", db], source);
    expect(verified.code).toBe(0);
    head = /^head (\S+)$/m.exec(verified.stdout)![1]!;
    // A command that writes, run where the database was written, folds the log into the file and leaves neither
    // -wal nor -shm when it closes: a database closed cleanly.
    const rebuilt = await run(["rebuild", "--db", db], source);
    expect(rebuilt.code).toBe(0);
    expect(existsSync(`${db}-wal`)).toBe(false);
  }, E2E_TIMEOUT);

  test("a database closed cleanly: all three commands work, and nothing is written", async () => {
    const mount = readOnlyCopyOf(join(source, "clean"), "clean-ro");
    const db = join(mount, "live.db");
    const verified = await run(["verify", "--db", db], mount);
    expect(verified.stderr).toBe("");
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain("OK: 3 events, 2 opportunities");
    expect(verified.stdout).toContain(`head ${head}`);
    // Shared among threads, each opening the file on its own as the command did.
    const shared = await run(["verify", "--db", db, "--threads", "2"], mount);
    expect(shared.stderr).toBe("");
    expect(shared.stdout).toBe(verified.stdout);
    const exported = await run(["export", "--db", db], mount);
    expect(exported.code).toBe(0);
    expect(exported.stdout.trim().split("\n").map((line) => JSON.parse(line).position)).toEqual([1, 2, 3]);
    const history = await run(["history", "RO-1", "--db", db], mount);
    expect(history.code).toBe(0);
    expect(history.stdout).toContain("RO-1: 2 event(s)");
    expect(existsSync(`${db}-shm`)).toBe(false);
  }, E2E_TIMEOUT);

  test("a database copied while live, its -wal and -shm beside it: the events in the log are read too", async () => {
    await killedServerDatabase(join(source, "live"));
    const mount = readOnlyCopyOf(join(source, "live"), "live-ro");
    const verified = await run(["verify", "--db", join(mount, "live.db")], mount);
    expect(verified.stderr).toBe("");
    expect(verified.stdout).toContain("OK: 3 events, 2 opportunities");
    const history = await run(["history", "RO-1", "--db", join(mount, "live.db")], mount);
    expect(history.stdout).toContain("RO-1: 2 event(s)");
  }, E2E_TIMEOUT);

  test("a -wal with content but no -shm: refused with what to do, exit 1, never read without the log", async () => {
    const copy = join(source, "no-shm");
    cpSync(join(source, "live"), copy, { recursive: true });
    rmSync(join(copy, "live.db-shm"));
    const mount = readOnlyCopyOf(copy, "no-shm-ro");
    const verified = await run(["verify", "--db", join(mount, "live.db")], mount);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toBe("");
    expect(verified.stderr).toContain("write-ahead log");
    expect(verified.stderr).toContain("copy the database with its -wal file to a writable directory");
  }, E2E_TIMEOUT);
});
