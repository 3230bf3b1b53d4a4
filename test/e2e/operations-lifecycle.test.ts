import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SCHEMA_VERSION } from "../../src/storage/sqlite/schema";
import { E2E_TIMEOUT, run, startServer, stop, useBinary, type Server } from "../support/binary";
import { makeTempDir } from "../support/temp-dir";
import { freePort } from "../support/free-port";
import { api, isListening, logLines, stopAndCollect, waitFor, writeJson } from "./operations-support";

// The service's life as operators run it: stop under load (SIGTERM), secret rotation and dictionary reload
// (SIGHUP), backups of the live database, and schema upgrades at start.
const SECRET = "lifecycle-secret-0123456789abcdef";
const CREATE = "/api/opportunities/integration/create";
const UPDATE = "/api/opportunities/integration/update";
const work = makeTempDir("opportunity-e2e-lifecycle-");

useBinary();
afterAll(() => work.cleanup());

function freshDir(name: string): string {
  const path = join(work.path, name);
  mkdirSync(path, { recursive: true });
  return path;
}

const create = (server: Server, code: string, secret = SECRET) =>
  api(server.baseUrl, "POST", CREATE, { secret, body: { opportunityCode: code, opportunityName: `商机 ${code}`, endCustomerName: "最终客户" } });

/** Reads rows from a database file the service has let go of (or is serving: WAL readers do not block). */
function query<T>(dbPath: string, sql: string): T[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.query<T, []>(sql).all();
  } finally {
    db.close();
  }
}

function userVersion(dbPath: string): number {
  return query<{ user_version: number }>(dbPath, "PRAGMA user_version")[0]!.user_version;
}

function setUserVersion(dbPath: string, version: number): void {
  const db = new Database(dbPath);
  try {
    db.run(`PRAGMA user_version = ${version}`);
  } finally {
    db.close();
  }
}

/** Sends SIGHUP and waits for the next "configuration reloaded" or "reload failed…" line; returns it. */
async function hangUp(server: Server): Promise<Record<string, any>> {
  const isReload = (line: Record<string, any>) => line.msg === "configuration reloaded" || String(line.msg).startsWith("reload failed");
  const before = logLines(server.output()).filter(isReload).length;
  server.child.kill("SIGHUP");
  await waitFor(() => logLines(server.output()).filter(isReload).length > before, "the reload log line", 5_000);
  return logLines(server.output()).filter(isReload)[before]!;
}

describe("stopping", () => {
  test("SIGTERM on an idle service exits 0 as soon as it has stopped, not after the shutdown timeout", async () => {
    // BUG: serve races server.stop() against Bun.sleep(shutdownTimeout) and never cancels the timer, so after a
    // clean drain ("stopped", drained: true, ms: 0) the process lingers for the whole timeout (10 s by default).
    const server = await startServer(["--db", join(freshDir("idle"), "idle.db")], work.path, { INTERNAL_SECRET: SECRET });
    const started = performance.now();
    const { code, stdout } = await stopAndCollect(server);
    const elapsed = performance.now() - started;
    expect(code).toBe(0);
    expect(logLines(stdout).find((line) => line.msg === "stopped")).toMatchObject({ signal: "SIGTERM", drained: true });
    expect(elapsed).toBeLessThan(3_000);
  }, E2E_TIMEOUT);

  test("SIGINT stops cleanly too: exit 0, stopping and stopped logged, WAL folded into the database", async () => {
    const dbPath = join(freshDir("sigint"), "sigint.db");
    const server = await startServer(["--db", dbPath, "--shutdown-timeout", "500"], work.path, { INTERNAL_SECRET: SECRET });
    expect((await create(server, "INT-1")).body.code).toBe("0");
    server.child.kill("SIGINT");
    expect(await server.child.exited).toBe(0);
    await waitFor(() => server.output().includes('"msg":"stopped"'), "the stopped line", 5_000);
    const lines = logLines(server.output());
    expect(lines.find((line) => line.msg === "stopping")).toMatchObject({ signal: "SIGINT" });
    expect(lines.find((line) => line.msg === "stopped")).toMatchObject({ signal: "SIGINT", drained: true });
    expect(existsSync(`${dbPath}-wal`) ? statSync(`${dbPath}-wal`).size : 0).toBe(0);
    expect(query<{ code: string }>(dbPath, "SELECT code FROM opportunities")).toEqual([{ code: "INT-1" }]);
  }, E2E_TIMEOUT);

  test("SIGTERM during 200 concurrent writes over 16 connections: exit 0, every acknowledged write is stored, WAL checkpointed, verify passes", async () => {
    const dir = freshDir("load");
    const dbPath = join(dir, "load.db");
    const server = await startServer(["--db", dbPath, "--shutdown-timeout", "5000"], dir, { INTERNAL_SECRET: SECRET });
    const SEEDS = 16;
    for (let index = 0; index < SEEDS; index++) expect((await create(server, `LOAD-${index}`)).body.code).toBe("0");

    const TOTAL = 200;
    const CONNECTIONS = 16;
    const SIGTERM_AFTER = 40;
    type Outcome = { index: number; kind: "create" | "update"; code: string; status: number } | { index: number; kind: "create" | "update"; error: string };
    const outcomes: Outcome[] = [];
    let next = 0;
    let signalled = false;
    const loadStarted = performance.now();
    const worker = async () => {
      while (next < TOTAL) {
        const index = next++;
        // Every fourth request creates a new opportunity; the others change a seed's amount to a value no
        // other request sends, so each acknowledged update appends exactly one event.
        const kind = index % 4 === 0 ? "create" : "update";
        const body =
          kind === "create"
            ? { opportunityCode: `LOAD-NEW-${index}`, opportunityName: "负载", endCustomerName: "客户" }
            : { opportunityCode: `LOAD-${index % SEEDS}`, amount: 10_000 + index };
        try {
          const response = await fetch(`${server.baseUrl}${kind === "create" ? CREATE : UPDATE}`, {
            method: kind === "create" ? "POST" : "PUT",
            headers: { "content-type": "application/json", "x-internal-secret": SECRET, "x-request-id": `load-${index}` },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(20_000),
          });
          const envelope = (await response.json()) as { code: string };
          outcomes.push({ index, kind, code: envelope.code, status: response.status });
        } catch (error) {
          outcomes.push({ index, kind, error: String(error) });
        }
        if (!signalled && outcomes.length >= SIGTERM_AFTER) {
          signalled = true;
          server.child.kill("SIGTERM");
        }
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
    expect(signalled).toBe(true);
    expect(await server.child.exited).toBe(0);
    expect(outcomes).toHaveLength(TOTAL);
    expect(performance.now() - loadStarted).toBeLessThan(40_000);
    await waitFor(() => server.output().includes('"msg":"stopped"'), "the stopped line", 5_000);
    expect(logLines(server.output()).find((line) => line.msg === "stopped")).toMatchObject({ signal: "SIGTERM", drained: true });
    // Nothing went wrong on the way: the checkpointer thread (a worker entry of the binary) started and stopped.
    expect(logLines(server.output()).filter((line) => line.level === "warn" || line.level === "error")).toEqual([]);

    const acknowledged = outcomes.filter((outcome): outcome is Extract<Outcome, { code: string }> => "code" in outcome && outcome.code === "0");
    // Answers are all-or-nothing: a success, or no answer at all (refused or cut off by the stop); never a failure envelope.
    expect(outcomes.filter((outcome) => "code" in outcome && outcome.code !== "0")).toEqual([]);
    expect(acknowledged.length).toBeGreaterThanOrEqual(SIGTERM_AFTER);

    // The WAL was checkpointed (TRUNCATE) on the way out: empty or gone.
    expect(existsSync(`${dbPath}-wal`) ? statSync(`${dbPath}-wal`).size : 0).toBe(0);

    const events = query<{ stream_id: string; type: string; data: string; metadata: string }>(dbPath, "SELECT stream_id, type, data, metadata FROM events ORDER BY position");
    const byRequest = new Map<string, { stream_id: string; type: string; data: string }[]>();
    for (const event of events) {
      const requestId = JSON.parse(event.metadata).requestId as string;
      byRequest.set(requestId, [...(byRequest.get(requestId) ?? []), event]);
    }
    for (const outcome of acknowledged) {
      const stored = byRequest.get(`load-${outcome.index}`) ?? [];
      expect({ index: outcome.index, stored: stored.length }).toEqual({ index: outcome.index, stored: 1 });
      const event = stored[0]!;
      if (outcome.kind === "create") {
        expect([event.type, event.stream_id]).toEqual(["OpportunityCreated", `LOAD-NEW-${outcome.index}`]);
      } else {
        expect(event.type).toBe("OpportunityUpdated");
        expect(event.stream_id).toBe(`LOAD-${outcome.index % SEEDS}`);
        expect(JSON.parse(event.data).changes).toEqual({ amount: 10_000 + outcome.index });
      }
    }
    // Nothing else was written: every load event belongs to a request that was sent.
    const loadEvents = events.filter((event) => JSON.parse(event.metadata).requestId.startsWith("load-"));
    expect(events.length - loadEvents.length).toBe(SEEDS);
    const sent = new Set(outcomes.map((outcome) => `load-${outcome.index}`));
    expect(loadEvents.every((event) => sent.has(JSON.parse(event.metadata).requestId))).toBe(true);
    // And every request the service took in was answered before it exited: no write was committed unanswered.
    expect(loadEvents.length).toBe(acknowledged.length);
    const createdCodes = acknowledged.filter((outcome) => outcome.kind === "create").map((outcome) => `LOAD-NEW-${outcome.index}`);
    const stored = query<{ code: string }>(dbPath, "SELECT code FROM opportunities").map((row) => row.code);
    expect(stored).toEqual(expect.arrayContaining(createdCodes));
    expect(stored.length).toBe(SEEDS + loadEvents.filter((event) => event.type === "OpportunityCreated").length);

    const verified = await run(["verify", "--db", dbPath], dir);
    expect(verified.stderr).toBe("");
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`OK: ${events.length} events, ${stored.length} opportunities`);
  }, E2E_TIMEOUT);
});

describe("SIGHUP reload", () => {
  test("secret rotation: add the new secret, then remove the old; a broken file keeps the previous secrets and logs no secret", async () => {
    const dir = freshDir("rotation");
    const OLD = "old-rotation-secret-0123456789abcdef";
    const NEW = "new-rotation-secret-0123456789abcdef";
    const THIRD = "third-rotation-secret-0123456789abcdef";
    const secretsFile = join(dir, "secrets.json");
    writeJson(secretsFile, [{ name: "oms-2025", secret: OLD }]);
    const dbPath = join(dir, "rotation.db");
    const server = await startServer(["--db", dbPath, "--secrets", secretsFile, "--shutdown-timeout", "500"], dir);
    const amount = (secret: string, value: number) => api(server.baseUrl, "PUT", UPDATE, { secret, body: { opportunityCode: "ROT-1", amount: value } });

    expect((await create(server, "ROT-1", OLD)).body.code).toBe("0");
    expect((await amount(NEW, 1)).status).toBe(401);

    // 1. Both secrets in the file: both work.
    writeJson(secretsFile, [
      { name: "oms-2025", secret: OLD },
      { name: "oms-2026", secret: NEW },
    ]);
    expect(await hangUp(server)).toMatchObject({
      level: "info",
      msg: "configuration reloaded",
      secrets: [
        { name: "oms-2025", role: "integrator" },
        { name: "oms-2026", role: "integrator" },
      ],
    });
    expect((await amount(OLD, 2)).body).toEqual({ code: "0", msg: "success", data: 1 });
    expect((await amount(NEW, 3)).body).toEqual({ code: "0", msg: "success", data: 1 });

    // 2. Old secret removed: it gets 401, the new one works.
    writeJson(secretsFile, [{ name: "oms-2026", secret: NEW }]);
    expect(await hangUp(server)).toMatchObject({ msg: "configuration reloaded", secrets: [{ name: "oms-2026", role: "integrator" }] });
    const refused = await amount(OLD, 4);
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ code: "-1", msg: "内部接口鉴权失败", data: null });
    expect((await amount(NEW, 5)).body.code).toBe("0");

    // 3. Broken files: not JSON (cut off mid-way), a short secret, no file at all. Each keeps the previous secrets.
    const broken: [string, () => void, string][] = [
      ["cut off", () => writeFileSync(secretsFile, `[{"name":"oms-2026","secret":"${NEW}"},{"name":"oms-2027","secret":"${THIRD}"`), "is not valid JSON"],
      ["short secret", () => writeJson(secretsFile, [{ name: "oms-2027", secret: "short-3" }, { name: "oms-2026", secret: NEW }]), 'entry 1 (oms-2027): "secret" must be at least 16'],
      ["missing", () => unlinkSync(secretsFile), "cannot be read: ENOENT"],
    ];
    for (const [name, breakFile, reason] of broken) {
      breakFile();
      const line = await hangUp(server);
      expect({ name, level: line.level, msg: line.msg }).toEqual({ name, level: "warn", msg: "reload failed; keeping the previous secrets and stages" });
      expect(line.reason).toContain(secretsFile);
      expect(line.reason).toContain(reason);
      expect((await amount(NEW, 10 + broken.findIndex(([other]) => other === name))).body.code).toBe("0");
      expect((await amount(OLD, 99)).status).toBe(401);
      expect((await amount(THIRD, 99)).status).toBe(401);
    }

    const { code, stdout, stderr } = await stopAndCollect(server);
    expect(code).toBe(0);
    for (const secret of [OLD, NEW, THIRD, "short-3"]) {
      expect(stdout.includes(secret)).toBe(false);
      expect(stderr.includes(secret)).toBe(false);
    }
    // Each event records the client behind the secret that made it.
    const actors = query<{ metadata: string }>(dbPath, "SELECT metadata FROM events ORDER BY position").map((row) => JSON.parse(row.metadata).actor);
    expect(actors).toEqual(["oms-2025", "oms-2025", "oms-2026", "oms-2026", "oms-2026", "oms-2026", "oms-2026"]);
  }, E2E_TIMEOUT);

  test("the stages file is reloaded too; a broken one keeps the previous dictionary", async () => {
    const dir = freshDir("stages");
    const stagesFile = join(dir, "stages.json");
    const base = [
      { code: "lead", label: "线索" },
      { code: "won", label: "赢单" },
      { code: "lost", label: "输单" },
    ];
    writeJson(stagesFile, base);
    const server = await startServer(["--db", join(dir, "stages.db"), "--stages", stagesFile, "--shutdown-timeout", "500"], dir, { INTERNAL_SECRET: SECRET });
    const stage = (value: string) => api(server.baseUrl, "PUT", UPDATE, { secret: SECRET, body: { opportunityCode: "STG-1", stage: value } });
    expect((await create(server, "STG-1")).body.code).toBe("0");
    expect((await stage("bidding")).body.msg).toBe("项目阶段无效: bidding");

    writeJson(stagesFile, [...base, { code: "bidding", label: "招投标" }]);
    expect(await hangUp(server)).toMatchObject({ msg: "configuration reloaded", stages: 4, secrets: "not from a file (env): unchanged" });
    expect((await stage("bidding")).body.code).toBe("0");
    expect((await stage("赢单")).body.code).toBe("0");

    writeFileSync(stagesFile, "[{\"code\": \"lead\"");
    expect(await hangUp(server)).toMatchObject({ level: "warn", msg: "reload failed; keeping the previous secrets and stages" });
    expect((await stage("bidding")).body.code).toBe("0");
    expect((await stage("solution")).body.msg).toBe("项目阶段无效: solution");
    const read = await api(server.baseUrl, "GET", "/api/opportunities/STG-1", { secret: SECRET });
    expect(read.body.data.stage).toBe("bidding");
    expect((await stopAndCollect(server)).code).toBe(0);
  }, E2E_TIMEOUT);
});

describe("backup", () => {
  test("backup PATH --db on a live database while the service writes: the copy verifies and is a prefix of the live chain", async () => {
    const dir = freshDir("backup");
    const dbPath = join(dir, "live.db");
    const copyPath = join(dir, "copies", "live-copy.db");
    mkdirSync(join(dir, "copies"));
    const server = await startServer(["--db", dbPath, "--shutdown-timeout", "2000"], dir, { INTERNAL_SECRET: SECRET });
    for (let index = 0; index < 8; index++) expect((await create(server, `BAK-${index}`)).body.code).toBe("0");

    // Four writers, each at most 150 updates, until told to stop.
    let writing = true;
    let written = 0;
    const failures: string[] = [];
    const writer = async (lane: number) => {
      for (let step = 0; step < 150 && writing; step++) {
        const answer = await api(server.baseUrl, "PUT", UPDATE, { secret: SECRET, body: { opportunityCode: `BAK-${lane}`, amount: 1 + step } });
        if (answer.body.code === "0") written++;
        else failures.push(answer.body.msg);
      }
    };
    const writers = Promise.all([0, 1, 2, 3].map(writer));
    await waitFor(() => written >= 20, "20 writes before the backup", 15_000);
    const writtenAtStart = written;
    const result = await run(["backup", copyPath, "--db", dbPath], dir);
    const writtenAtEnd = written;
    writing = false;
    await writers;
    expect(failures).toEqual([]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const report = /^backed up (.+) to (.+) \([\d.]+ MiB\): (\d+) events, (\d+) opportunities, verified\nhead (\d+):([0-9a-f]{64})\n$/.exec(result.stdout);
    expect(report).not.toBeNull();
    const [, from, to, eventCount, opportunityCount, headPosition, headHash] = report!;
    expect([from, to, opportunityCount]).toEqual([dbPath, copyPath, "8"]);
    expect(Number(eventCount)).toBe(Number(headPosition));
    // Taken while writes went on: it holds the seeds and the writes before it, not necessarily the later ones.
    expect(Number(eventCount)).toBeGreaterThanOrEqual(8 + writtenAtStart);
    expect(writtenAtEnd).toBeGreaterThanOrEqual(writtenAtStart);

    // The copy stands alone and verifies, with the head the backup printed.
    expect(existsSync(`${copyPath}-wal`) ? statSync(`${copyPath}-wal`).size : 0).toBe(0);
    const verified = await run(["verify", "--db", copyPath, "--expect-head", `${headPosition}:${headHash}`], dir);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`OK: ${eventCount} events, 8 opportunities`);

    // Backup never writes over anything: not over its own copy, not over another file.
    const copyBytes = readFileSync(copyPath);
    const again = await run(["backup", copyPath, "--db", dbPath], dir);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`${copyPath} already exists: backup never writes over a file`);
    expect(readFileSync(copyPath).equals(copyBytes)).toBe(true);
    const notes = join(dir, "notes.txt");
    writeFileSync(notes, "keep me");
    const overNotes = await run(["backup", notes, "--db", dbPath], dir);
    expect(overNotes.code).toBe(2);
    expect(readFileSync(notes, "utf8")).toBe("keep me");
    const noDatabase = await run(["backup", join(dir, "copies", "other.db"), "--db", join(dir, "missing.db")], dir);
    expect(noDatabase.code).toBe(2);
    expect(noDatabase.stderr).toContain("missing.db does not exist");
    expect(existsSync(join(dir, "copies", "other.db"))).toBe(false);

    expect((await stopAndCollect(server)).code).toBe(0);
    // The copy is a snapshot of the live chain: the live database holds the same hash at the copy's head.
    const live = query<{ hash: string }>(dbPath, `SELECT hash FROM events WHERE position = ${Number(headPosition)}`);
    expect(live).toEqual([{ hash: headHash! }]);
    const liveVerified = await run(["verify", "--db", dbPath, "--expect-head", `${headPosition}:${headHash}`], dir);
    expect(liveVerified.code).toBe(0);
    expect(liveVerified.stdout).toContain(`OK: ${8 + written} events, 8 opportunities`);
  }, E2E_TIMEOUT);
});

describe("schema migrations at start", () => {
  /** A database made by this binary: two opportunities, one updated; stopped cleanly. */
  async function makeDatabase(dir: string): Promise<string> {
    const dbPath = join(dir, "schema.db");
    const server = await startServer(["--db", dbPath, "--shutdown-timeout", "500"], dir, { INTERNAL_SECRET: SECRET });
    expect((await create(server, "MIG-1")).body.code).toBe("0");
    expect((await create(server, "MIG-2")).body.code).toBe("0");
    expect((await api(server.baseUrl, "PUT", UPDATE, { secret: SECRET, body: { opportunityCode: "MIG-1", stage: "won", amount: 2800000 } })).body.code).toBe("0");
    expect(await stop(server)).toBe(0);
    expect(userVersion(dbPath)).toBe(SCHEMA_VERSION);
    return dbPath;
  }

  test("a database at user_version 0 (made before migrations were recorded) is upgraded at start, data intact", async () => {
    const dir = freshDir("migrate-0");
    const dbPath = await makeDatabase(dir);
    setUserVersion(dbPath, 0);
    expect(userVersion(dbPath)).toBe(0);

    const server = await startServer(["--db", dbPath, "--shutdown-timeout", "500"], dir, { INTERNAL_SECRET: SECRET });
    expect((await api(server.baseUrl, "GET", "/readyz")).body).toEqual({ code: "0", msg: "success", data: "ready" });
    expect(userVersion(dbPath)).toBe(SCHEMA_VERSION);
    const read = await api(server.baseUrl, "GET", "/api/opportunities/MIG-1", { secret: SECRET });
    expect(read.body.data).toMatchObject({ id: 1, opportunityCode: "MIG-1", stage: "won", amount: 2800000, version: 2 });
    expect((await api(server.baseUrl, "GET", "/api/opportunities/MIG-2", { secret: SECRET })).body.data).toMatchObject({ id: 2, version: 1 });
    // And it keeps working: the next id and the next version follow on.
    expect((await create(server, "MIG-3")).body).toEqual({ code: "0", msg: "success", data: 3 });
    expect((await stopAndCollect(server)).code).toBe(0);

    expect(userVersion(dbPath)).toBe(SCHEMA_VERSION);
    const verified = await run(["verify", "--db", dbPath], dir);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain("OK: 4 events, 3 opportunities");
  }, E2E_TIMEOUT);

  test("a database of schema version 1 (before idempotency keys) gets the idempotency table at start", async () => {
    const dir = freshDir("migrate-1");
    const dbPath = await makeDatabase(dir);
    const db = new Database(dbPath);
    try {
      db.run("DROP TABLE idempotency_keys");
      db.run("PRAGMA user_version = 1");
    } finally {
      db.close();
    }
    const server = await startServer(["--db", dbPath, "--shutdown-timeout", "500"], dir, { INTERNAL_SECRET: SECRET });
    expect((await api(server.baseUrl, "GET", "/readyz")).body.data).toBe("ready");
    const retry = () =>
      api(server.baseUrl, "PUT", UPDATE, { secret: SECRET, headers: { "idempotency-key": "migrate-retry-1" }, body: { opportunityCode: "MIG-2", amount: 7 } });
    const first = await retry();
    const second = await retry();
    expect(first.body.code).toBe("0");
    expect(second.body).toEqual(first.body);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect((await stopAndCollect(server)).code).toBe(0);
    expect(userVersion(dbPath)).toBe(SCHEMA_VERSION);
    expect(query<{ key: string }>(dbPath, "SELECT key FROM idempotency_keys")).toEqual([{ key: "migrate-retry-1" }]);
    expect(query<{ n: number }>(dbPath, "SELECT count(*) AS n FROM events")).toEqual([{ n: 4 }]);
  }, E2E_TIMEOUT);

  test("a database of a newer schema (user_version 99) is refused by serve, verify and backup, and left as it was", async () => {
    const dir = freshDir("migrate-99");
    const dbPath = await makeDatabase(dir);
    setUserVersion(dbPath, 99);
    const bytes = readFileSync(dbPath);
    const message = `the database has schema version 99, newer than this binary supports (${SCHEMA_VERSION})`;

    const port = freePort();
    const served = await run(["serve", "--db", dbPath, "--port", String(port), "--host", "127.0.0.1"], dir, { INTERNAL_SECRET: SECRET });
    expect(served.code).toBe(1);
    expect(served.stderr).toContain(message);
    expect(served.stdout).not.toContain('"msg":"listening"');
    expect(await isListening(port)).toBe(false);

    const verified = await run(["verify", "--db", dbPath], dir);
    expect(verified.code).toBe(1);
    expect(verified.stderr).toContain(message);
    expect(verified.stdout).not.toContain("OK:");

    const copyPath = join(dir, "copy.db");
    const backedUp = await run(["backup", copyPath, "--db", dbPath], dir);
    expect(backedUp.code).toBe(1);
    expect(backedUp.stderr).toContain(message);
    expect(existsSync(copyPath)).toBe(false);

    expect(userVersion(dbPath)).toBe(99);
    expect(readFileSync(dbPath).equals(bytes)).toBe(true);
    expect(query<{ n: number }>(dbPath, "SELECT count(*) AS n FROM events")).toEqual([{ n: 3 }]);
  }, E2E_TIMEOUT);
});
