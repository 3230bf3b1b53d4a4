import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statfsSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { run, startServer, stop, useBinary, type Server } from "../support/binary";
import { ImmutableFiles, immutableIsEnforced } from "../support/immutable-files";
import { makeTempDir, type TempDir } from "../support/temp-dir";
import { walIndex } from "../support/wal-index";
import { logLines, waitFor } from "./operations-support";

// Issue "Nothing lost", storage failures: the compiled binary on a database that suddenly cannot take writes
// (disk full, files made unwritable). Every write must answer 503 with a Chinese message in the envelope and
// leave nothing half-written, /readyz must turn red, and once the cause goes away the service must take writes
// again without a restart.

const SECRET = "storage-secret-0123456789abcdef";
const TEST_TIMEOUT = 120_000;
const JSON_UTF8 = "application/json;charset=UTF-8";
const DISK_FULL_MESSAGE = "数据库磁盘空间已满，本次修改未保存，请稍后重试";
const CANNOT_WRITE_MESSAGE = "数据库暂时无法写入，本次修改未保存，请稍后重试";

const sh = (...command: string[]) => {
  const result = Bun.spawnSync(command, { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, output: `${result.stdout.toString()}${result.stderr.toString()}`.trim() };
};

/**
 * Whether a small tmpfs can be mounted here (CI runs as root). Probed when the file loads, mounted and
 * unmounted at once, so that the disk-full tests can be skipped with a clear message where it cannot; the
 * tmpfs the tests use is mounted in beforeAll and unmounted in afterAll.
 */
function canMountTmpfs(): { ok: boolean; why: string } {
  const probe = makeTempDir("opportunity-e2e-mount-probe-");
  try {
    const mounted = sh("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", probe.path);
    if (mounted.code !== 0) return { ok: false, why: `cannot mount a 2 MiB tmpfs (needs root): ${mounted.output}` };
    const unmounted = sh("umount", probe.path);
    if (unmounted.code !== 0) sh("umount", "-l", probe.path);
    return { ok: true, why: "" };
  } finally {
    probe.cleanup();
  }
}
const tmpfs = canMountTmpfs();
if (!tmpfs.ok) console.warn(`SKIPPING the disk-full tests: ${tmpfs.why}`);

/*
 * Making a database read-only under a RUNNING service, as root, was tried in several ways (Linux 6.18):
 * - chmod 0444 on the db, -wal and -shm files: no effect. Root ignores file modes (CAP_DAC_OVERRIDE), and
 *   SQLite keeps all three files open read-write from start-up anyway; modes are only checked at open().
 * - `mount -o remount,ro` of a tmpfs holding the database: refused with "mount point is busy" (EBUSY), because
 *   the kernel does not make a filesystem read-only while files on it are open for writing, which SQLite's are.
 * - renaming the database file away (SQLITE_READONLY_DBMOVED): not detected in WAL mode; writes go on.
 * - `chattr +i` (immutable) on a tmpfs: not enforced for descriptors already open; writes go on.
 * - `chattr +i` on the -shm file on ext4: the next write through SQLite's shared-memory mapping kills the
 *   process with SIGBUS, so the -shm file is left alone.
 * What works: `chattr +i` on the db and -wal files on ext4. Writes through the descriptors SQLite already holds
 * then fail with EPERM, which SQLite reports as SQLITE_IOERR_WRITE: the same code a filesystem that the kernel
 * forces read-only (EROFS, e.g. after an I/O error with errors=remount-ro) produces. The service must treat it
 * as "cannot write right now": 503 with the general message, readiness red, recovery once writable again.
 * The test probes that the attribute is enforced where the temp dir lives (test/support/immutable-files.ts), and
 * skips with a message otherwise.
 */
const immutable = immutableIsEnforced();
if (!immutable.ok) console.warn(`SKIPPING the unwritable-database test: ${immutable.why}`);

let work: TempDir;
let secretsPath = "";
let mountPoint = "";
let mounted = false;
const servers = new Set<Server>();
const immutableFiles = new ImmutableFiles();

async function start(db: string): Promise<Server> {
  // A short shutdown timeout keeps every stop quick (the default is 10 s).
  const server = await startServer(["--db", db, "--secrets", secretsPath, "--shutdown-timeout", "1000"], work.path);
  servers.add(server);
  return server;
}

useBinary();
beforeAll(() => {
  work = makeTempDir("opportunity-e2e-storage-");
  secretsPath = join(work.path, "secrets.json");
  writeFileSync(secretsPath, JSON.stringify([{ name: "oms", secret: SECRET }]));
  mountPoint = join(work.path, "tmpfs");
  mkdirSync(mountPoint);
  if (tmpfs.ok) {
    const result = sh("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint);
    if (result.code !== 0) throw new Error(`mounting the tmpfs failed although the probe succeeded: ${result.output}`);
    mounted = true;
  }
});
afterAll(async () => {
  // Our servers hold files on the tmpfs: they must be gone before it can be unmounted.
  for (const server of servers) server.child.kill("SIGKILL");
  await Promise.all([...servers].map((server) => server.child.exited));
  immutableFiles.clearAll();
  if (mounted && sh("umount", mountPoint).code !== 0) sh("umount", "-l", mountPoint);
  work?.cleanup();
});

interface Answer {
  status: number;
  headers: Headers;
  body: { code: string; msg: string; data: any };
}

async function call(server: Server, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method,
    headers: { "content-type": "application/json", "x-internal-secret": SECRET, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text) as Answer["body"] };
}

const update = (server: Server, body: Record<string, unknown>, headers?: Record<string, string>) =>
  call(server, "PUT", "/api/opportunities/integration/update", body, headers);
const create = (server: Server, code: string, amount: number, headers?: Record<string, string>) =>
  call(server, "POST", "/api/opportunities/integration/create", { opportunityCode: code, opportunityName: `商机 ${code}`, endCustomerName: "存储测试客户", amount }, headers);
const readyz = (server: Server) => call(server, "GET", "/readyz");
const read = (server: Server, code: string) => call(server, "GET", `/api/opportunities/${code}`);

/** The answer every write gets while the database cannot take it: 503, the envelope, a retry hint. */
function expectUnavailable(answer: Answer, message: string): void {
  expect({ status: answer.status, body: answer.body, contentType: answer.headers.get("content-type"), retryAfter: answer.headers.get("retry-after") }).toEqual({
    status: 503,
    body: { code: "-1", msg: message, data: null },
    contentType: JSON_UTF8,
    retryAfter: "5",
  });
}

/**
 * Updates of `code` (amounts from `firstAmount` up) one at a time on a full disk, until the first is refused:
 * returns how many went through before it. Once a checkpoint has copied the whole WAL back (the checkpointer
 * thread does so every 250 ms), SQLite writes the WAL over from its start, into space the file already has, so
 * a few commits may still fit; the first that needs the WAL to grow is refused. (Later ones may fit again, when
 * a checkpoint finds room for the WAL's pages without growing the database file.)
 */
async function writesThatStillFit(server: Server, code: string, firstAmount: number): Promise<number> {
  for (let fitted = 0; ; fitted++) {
    const answer = await update(server, { opportunityCode: code, amount: firstAmount + fitted });
    if (answer.status !== 200) {
      expectUnavailable(answer, DISK_FULL_MESSAGE);
      return fitted;
    }
    expect(answer.body.code).toBe("0");
    // A WAL file of a few dozen pages holds a handful of single-update commits, not hundreds.
    expect(fitted).toBeLessThan(100);
  }
}

async function verifyEvents(db: string): Promise<number> {
  const verified = await run(["verify", "--db", db], work.path);
  expect({ code: verified.code, stderr: verified.stderr }).toEqual({ code: 0, stderr: "" });
  const match = /^OK: (\d+) events, (\d+) opportunities/.exec(verified.stdout);
  expect(match).not.toBeNull();
  return Number(match![1]);
}

/** Events, the projection and the idempotency keys as stored, read after the service stopped. */
function storedState(db: string) {
  const database = new Database(db, { readonly: true });
  try {
    const span = database.query<{ n: number; hi: number | null }, []>("SELECT COUNT(*) AS n, MAX(position) AS hi FROM events").get()!;
    const rows = database.query<{ code: string; amount: number; version: number }, []>("SELECT code, amount, version FROM opportunities ORDER BY code").all();
    const keys = database
      .query<{ key: string; n: number }, []>("SELECT json_extract(metadata, '$.idempotencyKey') AS key, COUNT(*) AS n FROM events WHERE key IS NOT NULL GROUP BY key")
      .all();
    return { events: span.n, lastPosition: span.hi, opportunities: rows, keys };
  } finally {
    database.close();
  }
}

/** Fills the filesystem of `dir` with zeros until ENOSPC; returns how many bytes the filler took. */
function fillUp(file: string): number {
  const fd = openSync(file, "w");
  let written = 0;
  try {
    for (const size of [65536, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          const n = writeSync(fd, chunk);
          written += n;
          if (n < size) break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** The stdout of the disk-full run, and how many of its writes were refused. */
let fullDiskLog = "";
let fullDiskRefusals = 0;

/** What the store must hold after the writes that were acknowledged: each opportunity's amount and version, and the events. */
class AcknowledgedWrites {
  events = 0;
  readonly opportunities = new Map<string, { amount: number; version: number }>();

  created(code: string, amount: number): void {
    this.opportunities.set(code, { amount, version: 1 });
    this.events += 1;
  }

  updated(code: string, amount: number): void {
    const state = this.opportunities.get(code)!;
    this.opportunities.set(code, { amount, version: state.version + 1 });
    this.events += 1;
  }

  rows(): { code: string; amount: number; version: number }[] {
    return [...this.opportunities].map(([code, state]) => ({ code, ...state })).sort((a, b) => a.code.localeCompare(b.code));
  }
}

describe.skipIf(!tmpfs.ok)("disk full (2 MiB tmpfs)", () => {
  test(
    "every write is acknowledged whole or refused with 503 in Chinese and changes nothing, /readyz is red; freeing space recovers without a restart",
    async () => {
      const dbDir = join(mountPoint, "data");
      const db = join(dbDir, "full.db");
      const server = await start(db);
      const model = new AcknowledgedWrites();
      for (const [index, code] of ["FULL-1", "FULL-2", "FULL-3", "FULL-4", "FULL-5", "FULL-6", "FULL-7", "FULL-8"].entries()) {
        expect((await create(server, code, 100 + index)).body.code).toBe("0");
        model.created(code, 100 + index);
      }
      expect((await update(server, { opportunityCode: "FULL-1", amount: 1000 })).body.code).toBe("0");
      model.updated("FULL-1", 1000);
      expect((await readyz(server)).status).toBe(200);

      // The checkpointer thread has copied the WAL back: the next commit writes the WAL over from its start, so
      // at least one still fits on the full disk (writesThatStillFit).
      await waitFor(() => walIndex(db).copied === walIndex(db).frames, "the WAL copied back", 10_000);
      const filler = join(mountPoint, "filler");
      const filled = fillUp(filler);
      expect(filled).toBeGreaterThan(0);
      expect(statfsSync(mountPoint).bavail).toBe(0);

      const fitted = await writesThatStillFit(server, "FULL-3", 500);
      expect(fitted).toBeGreaterThan(0);
      for (let n = 0; n < fitted; n++) model.updated("FULL-3", 500 + n);
      let refusals = 1;
      // Red after the refused commit, and still red on a second look: the disk is still full.
      const notReady = await readyz(server);
      expect(notReady.status).toBe(503);
      expect(notReady.body.code).toBe("-1");
      expect(notReady.body.data).toBeNull();
      expect(notReady.body.msg).toStartWith("服务未就绪: 数据库不可写 (SQLITE_FULL");
      expect((await readyz(server)).status).toBe(503);

      // More writes on the full disk: one at a time an update, a create and an update with an idempotency key,
      // then eight at once, one per opportunity (committed as one group, in whatever order they arrive). Each is
      // acknowledged whole (it fitted where a checkpoint had made room) or refused with the 503 envelope.
      const outcome = (answer: Answer, acknowledged: () => void): boolean => {
        if (answer.status === 200 && answer.body.code === "0") {
          acknowledged();
          return true;
        }
        expectUnavailable(answer, DISK_FULL_MESSAGE);
        refusals += 1;
        return false;
      };
      outcome(await update(server, { opportunityCode: "FULL-1", amount: 2000 }), () => model.updated("FULL-1", 2000));
      const newCreated = outcome(await create(server, "FULL-NEW", 5), () => model.created("FULL-NEW", 5));
      const keyedFirst = await update(server, { opportunityCode: "FULL-2", amount: 2000 }, { "idempotency-key": "full-key-1" });
      const keyedApplied = outcome(keyedFirst, () => model.updated("FULL-2", 2000));
      const together = await Promise.all(
        Array.from({ length: 8 }, (_, index) => update(server, { opportunityCode: `FULL-${index + 1}`, amount: 3000 + index })),
      );
      for (const [index, answer] of together.entries()) outcome(answer, () => model.updated(`FULL-${index + 1}`, 3000 + index));

      // Nothing half-written: reads answer what was acknowledged, and a live verify sees exactly those events.
      const first = await read(server, "FULL-1");
      expect({ code: first.body.code, amount: first.body.data?.amount, version: first.body.data?.version }).toEqual({ code: "0", ...model.opportunities.get("FULL-1")! });
      if (!newCreated) expect((await read(server, "FULL-NEW")).body).toEqual({ code: "-1", msg: "商机不存在", data: null });
      expect(await verifyEvents(db)).toBe(model.events);

      // Space comes back: ready again on the next check, writes go through, without a restart.
      rmSync(filler);
      const ready = await readyz(server);
      expect({ status: ready.status, body: ready.body }).toEqual({ status: 200, body: { code: "0", msg: "success", data: "ready" } });
      expect((await update(server, { opportunityCode: "FULL-1", amount: 7000 })).body).toEqual({ code: "0", msg: "success", data: 1 });
      model.updated("FULL-1", 7000);
      expect((await create(server, "FULL-AFTER", 6)).body).toEqual({ code: "0", msg: "success", data: model.opportunities.size + 1 });
      model.created("FULL-AFTER", 6);
      // A refused request's key was not burned: its retry is applied now, not replayed; an acknowledged one's is replayed.
      const retried = await update(server, { opportunityCode: "FULL-2", amount: 2000 }, { "idempotency-key": "full-key-1" });
      expect({ body: retried.body, replayed: retried.headers.get("idempotent-replayed") }).toEqual({
        body: { code: "0", msg: "success", data: 2 },
        replayed: keyedApplied ? "true" : null,
      });
      if (!keyedApplied) model.updated("FULL-2", 2000);
      expect((await readyz(server)).status).toBe(200);

      expect(await stop(server)).toBe(0);
      servers.delete(server);
      fullDiskLog = server.output();
      fullDiskRefusals = refusals;
      expect(await verifyEvents(db)).toBe(model.events);
      expect(storedState(db)).toEqual({ events: model.events, lastPosition: model.events, opportunities: model.rows(), keys: [{ key: "full-key-1", n: 1 }] });
    },
    TEST_TIMEOUT,
  );

  test("each 503 answer is logged as an envelope answer (code -1) beside the storage error", () => {
    // Answers made in the app's onError hook reach the request log as new Response objects; they were once
    // logged and counted with envelope code "none" (see operations-observability.test.ts for 400/413/415), which
    // hid the 503s of a full disk from the request log and opportunity_http_requests_total.
    const lines = logLines(fullDiskLog);
    expect(lines.length).toBeGreaterThan(0);
    expect(fullDiskRefusals).toBeGreaterThan(0);
    const unavailable = lines.filter((line) => line.msg === "request" && line.status === 503);
    expect(unavailable.map((line) => line.code)).toEqual(new Array(fullDiskRefusals).fill("-1"));
    const storageErrors = lines.filter((line) => line.msg === "database cannot take writes");
    expect(storageErrors.length).toBe(fullDiskRefusals);
    expect(new Set(storageErrors.map((line) => `${line.level} ${line.databaseCode}`))).toEqual(new Set(["error SQLITE_FULL"]));
  });

  test(
    "SIGTERM while the disk is still full stops cleanly: exit 0, 'stopped' logged, nothing lost",
    async () => {
      // BUG: on stop, the service runs PRAGMA wal_checkpoint(TRUNCATE) before closing the database. With the
      // disk full the checkpoint cannot grow the database file and throws SQLITE_FULL, so serve rejects: the
      // process exits 1 with "error: database or disk is full", never logs "stopped" and never closes the
      // database. Nothing is lost (the WAL holds every commit), but a supervisor sees a failed stop. The
      // checkpoint only tidies up; a failed one should be logged as a warning and the stop should still succeed.
      const db = join(mountPoint, "term", "term.db");
      const server = await start(db);
      for (const code of ["TERM-1", "TERM-2", "TERM-3"]) expect((await create(server, code, 7)).body.code).toBe("0");
      expect((await update(server, { opportunityCode: "TERM-1", amount: 8 })).body.code).toBe("0");
      const filler = join(mountPoint, "filler-term");
      let exitCode: number;
      let fitted = 0;
      try {
        fillUp(filler);
        fitted = await writesThatStillFit(server, "TERM-2", 9);
        exitCode = await stop(server);
        servers.delete(server);
      } finally {
        rmSync(filler, { force: true });
      }
      // Nothing lost either way.
      expect(await verifyEvents(db)).toBe(4 + fitted);
      const stderr = await new Response(server.child.stderr).text();
      const stopped = logLines(server.output()).find((line) => line.msg === "stopped");
      expect({ exitCode, stderr, stopped: stopped?.signal }).toEqual({ exitCode: 0, stderr: "", stopped: "SIGTERM" });
    },
    TEST_TIMEOUT,
  );
});

describe.skipIf(!immutable.ok)("database files made unwritable under the running service", () => {
  test(
    "writes answer 503 with a Chinese message, /readyz is red; making the files writable recovers without a restart",
    async () => {
      const db = join(work.path, "unwritable", "locked.db");
      const server = await start(db);
      expect((await create(server, "RO-1", 100)).body.code).toBe("0");
      expect((await update(server, { opportunityCode: "RO-1", amount: 200 })).body.code).toBe("0");
      expect(existsSync(`${db}-wal`)).toBe(true);

      const locked = [db, `${db}-wal`];
      for (const file of locked) immutableFiles.lock(file);
      expectUnavailable(await update(server, { opportunityCode: "RO-1", amount: 300 }), CANNOT_WRITE_MESSAGE);
      expectUnavailable(await create(server, "RO-2", 5), CANNOT_WRITE_MESSAGE);
      const together = await Promise.all(Array.from({ length: 4 }, (_, index) => update(server, { opportunityCode: "RO-1", amount: 400 + index })));
      for (const answer of together) expectUnavailable(answer, CANNOT_WRITE_MESSAGE);
      const notReady = await readyz(server);
      expect({ status: notReady.status, code: notReady.body.code }).toEqual({ status: 503, code: "-1" });
      expect(notReady.body.msg).toStartWith("服务未就绪: 数据库不可写 (SQLITE_IOERR");
      // Reads still answer the last committed state.
      const current = await read(server, "RO-1");
      expect({ amount: current.body.data?.amount, version: current.body.data?.version }).toEqual({ amount: 200, version: 2 });

      for (const file of locked) immutableFiles.unlock(file);
      const ready = await readyz(server);
      expect({ status: ready.status, body: ready.body }).toEqual({ status: 200, body: { code: "0", msg: "success", data: "ready" } });
      expect((await update(server, { opportunityCode: "RO-1", amount: 300 })).body).toEqual({ code: "0", msg: "success", data: 1 });
      expect((await create(server, "RO-2", 5)).body).toEqual({ code: "0", msg: "success", data: 2 });

      expect(await stop(server)).toBe(0);
      servers.delete(server);
      expect(await verifyEvents(db)).toBe(4);
      expect(storedState(db)).toEqual({
        events: 4,
        lastPosition: 4,
        opportunities: [
          { code: "RO-1", amount: 300, version: 3 },
          { code: "RO-2", amount: 5, version: 1 },
        ],
        keys: [],
      });
    },
    TEST_TIMEOUT,
  );
});
