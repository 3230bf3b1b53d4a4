import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, startServer, stop, useBinary, type Server } from "../support/binary";
import { makeTempDir } from "../support/temp-dir";
import { prng } from "../support/seeded-random";

// Issue "Nothing lost", crash safety: the compiled binary is killed with SIGKILL in the middle of concurrent
// creates and updates, a few times over, and restarted on the same database each time. After every crash the
// database as the crash left it (a copy of the db and -wal files, so that the restarted service still does its
// own WAL recovery on the original) must hold every acknowledged write exactly once, in order, with no gap in
// positions; `verify` must pass; and retrying the unanswered requests that carried an Idempotency-Key must
// apply each of them exactly once.

const SECRET = "crash-secret-0123456789abcdef";
const CLIENT = "oms";
const WORKERS = 12;
const ROUNDS = 4;
const TEST_TIMEOUT = 180_000;
const UPDATE_PATH = "/api/opportunities/integration/update";
const CREATE_PATH = "/api/opportunities/integration/create";

const dir = makeTempDir("opportunity-e2e-crash-");
const dbPath = join(dir.path, "crash.db");
const secretsPath = join(dir.path, "secrets.json");
writeFileSync(secretsPath, JSON.stringify([{ name: CLIENT, secret: SECRET }]));

// A short shutdown timeout keeps every stop quick (the default is 10 s).
const SERVE_ARGS = ["--db", dbPath, "--secrets", secretsPath, "--shutdown-timeout", "1000"];

useBinary();
afterAll(() => dir.cleanup());

type Outcome = "pending" | "acked" | "refused" | "unanswered";

/** One logical request as a client sent it (a retry with the same Idempotency-Key is the same request). */
interface Sent {
  /** X-Request-Id of the first attempt; a retry sends `${id}.retry`. */
  id: string;
  /** Global send order; requests for one code are sent by one worker, one after the other. */
  seq: number;
  round: number;
  worker: number;
  kind: "create" | "update";
  code: string;
  amount: number;
  key?: string;
  outcome: Outcome;
  /** The outcome of the retry after the restart (idempotent requests only). */
  retry?: Outcome;
  /** Why a request was refused (status and message), for the failure report. */
  refusal?: string;
  /** Date.now() when the request failed without an answer. */
  failedAt?: number;
  /** Whether the retry was answered from the idempotency record (header Idempotent-Replayed). */
  replayed?: boolean;
  /** Whether an event of this request was found in the store (set by the checks). */
  applied?: boolean;
}

interface Worker {
  index: number;
  idempotent: boolean;
  owned: string[];
  nextCode: number;
  counter: number;
}

const log: Sent[] = [];
const byAttemptId = new Map<string, Sent>();
let seq = 0;

const acknowledged = (sent: Sent) => sent.outcome === "acked" || sent.retry === "acked";

async function send(baseUrl: string, sent: Sent, attemptId: string): Promise<{ outcome: Outcome; refusal?: string; replayed?: boolean }> {
  const headers: Record<string, string> = { "content-type": "application/json", "x-internal-secret": SECRET, "x-request-id": attemptId };
  if (sent.key !== undefined) headers["idempotency-key"] = sent.key;
  const body =
    sent.kind === "create"
      ? { opportunityCode: sent.code, opportunityName: `商机 ${sent.code}`, endCustomerName: "崩溃测试客户", amount: sent.amount }
      : { opportunityCode: sent.code, amount: sent.amount };
  try {
    const response = await fetch(`${baseUrl}${sent.kind === "create" ? CREATE_PATH : UPDATE_PATH}`, {
      method: sent.kind === "create" ? "POST" : "PUT",
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    const envelope = JSON.parse(text) as { code: string; msg: string };
    if (response.status === 200 && envelope.code === "0") return { outcome: "acked", replayed: response.headers.get("idempotent-replayed") === "true" };
    return { outcome: "refused", refusal: `HTTP ${response.status} ${text}` };
  } catch {
    return { outcome: "unanswered" };
  }
}

/** One client: sequential creates and updates of its own codes until the server is gone. */
async function drive(worker: Worker, baseUrl: string, round: number, random: () => number, state: { killed: boolean }): Promise<void> {
  while (!state.killed) {
    const create = worker.owned.length < 2 || random() < 0.2;
    worker.counter += 1;
    const sent: Sent = {
      id: `r${round}-w${worker.index}-${worker.counter}`,
      seq: seq++,
      round,
      worker: worker.index,
      kind: create ? "create" : "update",
      code: create ? `CRASH-W${worker.index}-${worker.nextCode++}` : worker.owned[Math.floor(random() * worker.owned.length)]!,
      // Unique per worker and increasing, so every update really changes the amount.
      amount: (worker.index + 1) * 1_000_000 + worker.counter,
      key: worker.idempotent ? `key-w${worker.index}-${worker.counter}` : undefined,
      outcome: "pending",
    };
    log.push(sent);
    byAttemptId.set(sent.id, sent);
    const answer = await send(baseUrl, sent, sent.id);
    sent.outcome = answer.outcome;
    sent.refusal = answer.refusal;
    if (answer.outcome === "unanswered") {
      sent.failedAt = Date.now();
      return;
    }
    if (answer.outcome === "acked" && create) worker.owned.push(sent.code);
  }
}

/** Sends every unanswered request that carried an Idempotency-Key once more, with the same key and body. */
async function retryUnanswered(server: Server, workers: Worker[]): Promise<Sent[]> {
  const retried = log.filter((sent) => sent.key !== undefined && sent.outcome === "unanswered" && sent.retry === undefined);
  await Promise.all(
    retried.map(async (sent) => {
      const attemptId = `${sent.id}.retry`;
      byAttemptId.set(attemptId, sent);
      const answer = await send(server.baseUrl, sent, attemptId);
      sent.retry = answer.outcome;
      sent.refusal = answer.refusal;
      sent.replayed = answer.replayed;
      if (answer.outcome === "acked" && sent.kind === "create") workers[sent.worker]!.owned.push(sent.code);
    }),
  );
  return retried;
}

interface EventRowLite {
  position: number;
  stream_id: string;
  version: number;
  type: string;
  data: string;
  metadata: string;
}

/**
 * Checks a database against the client log: positions 1..N without a gap; every event belongs to a request
 * the clients sent, at most one event per request and per idempotency key; every acknowledged request has its
 * event with the value it sent; per code the events follow the send order; the projection holds the value and
 * version of the last event, which is never older than the last acknowledged write. Marks `applied`.
 */
function checkStore(path: string): { events: number; opportunities: number } {
  const db = new Database(path);
  try {
    const span = db.query<{ n: number; lo: number | null; hi: number | null }, []>("SELECT COUNT(*) AS n, MIN(position) AS lo, MAX(position) AS hi FROM events").get()!;
    expect(span.n).toBeGreaterThan(0);
    expect({ lo: span.lo, hi: span.hi }).toEqual({ lo: 1, hi: span.n });

    const rows = db.query<EventRowLite, []>("SELECT position, stream_id, version, type, data, metadata FROM events ORDER BY position").all();
    const eventsOf = new Map<Sent, EventRowLite[]>();
    const keys = new Map<string, number>();
    const unknown: string[] = [];
    for (const row of rows) {
      const metadata = JSON.parse(row.metadata) as { actor: string; requestId: string; idempotencyKey?: string };
      expect(metadata.actor).toBe(CLIENT);
      if (metadata.idempotencyKey !== undefined) keys.set(metadata.idempotencyKey, (keys.get(metadata.idempotencyKey) ?? 0) + 1);
      const sent = byAttemptId.get(metadata.requestId);
      if (!sent) {
        unknown.push(`${row.position}: ${metadata.requestId}`);
        continue;
      }
      eventsOf.set(sent, [...(eventsOf.get(sent) ?? []), row]);
    }
    expect(unknown).toEqual([]);
    // Nothing applied twice: one event per idempotency key, one per logical request.
    expect([...keys].filter(([, count]) => count > 1)).toEqual([]);
    expect([...eventsOf].filter(([, events]) => events.length > 1).map(([sent, events]) => [sent.id, events.map((e) => e.position)])).toEqual([]);

    for (const sent of log) {
      const events = eventsOf.get(sent) ?? [];
      sent.applied = events.length === 1;
      if (events.length === 0) continue;
      const row = events[0]!;
      const data = JSON.parse(row.data) as { amount?: number; opportunityCode?: string; changes?: { amount?: number } };
      expect({ stream: row.stream_id, type: row.type, amount: sent.kind === "create" ? data.amount : data.changes?.amount }).toEqual({
        stream: sent.code,
        type: sent.kind === "create" ? "OpportunityCreated" : "OpportunityUpdated",
        amount: sent.amount,
      });
    }
    // Every acknowledged write is in the events.
    const lost = log.filter((sent) => acknowledged(sent) && !sent.applied).map((sent) => `${sent.id} ${sent.kind} ${sent.code}`);
    expect(lost).toEqual([]);

    // Per code: the events follow the send order, and the projection is the last of them.
    const byCode = new Map<string, Sent[]>();
    for (const sent of log) byCode.set(sent.code, [...(byCode.get(sent.code) ?? []), sent]);
    const projection = new Map(
      db
        .query<{ code: string; amount: number; version: number }, []>("SELECT code, amount, version FROM opportunities")
        .all()
        .map((row) => [row.code, row]),
    );
    let opportunities = 0;
    for (const [code, requests] of byCode) {
      const applied = requests.filter((sent) => sent.applied);
      const row = projection.get(code);
      if (applied.length === 0) {
        expect(row).toBeUndefined();
        continue;
      }
      opportunities += 1;
      const versions = applied.map((sent) => eventsOf.get(sent)![0]!.version);
      expect(versions).toEqual(applied.map((_, index) => index + 1));
      const last = applied[applied.length - 1]!;
      const lastAcked = requests.filter(acknowledged).at(-1);
      if (lastAcked) expect(last.seq).toBeGreaterThanOrEqual(lastAcked.seq);
      expect({ code, amount: row?.amount, version: row?.version }).toEqual({ code, amount: last.amount, version: applied.length });
    }
    expect(projection.size).toBe(opportunities);
    return { events: span.n, opportunities };
  } finally {
    db.close();
  }
}

/** The value each code must show now: the last write (in send order) that was acknowledged or applied. */
function expectedState(): Map<string, { amount: number; version: number }> {
  const state = new Map<string, { amount: number; version: number }>();
  for (const sent of log) {
    if (!sent.applied) continue;
    const before = state.get(sent.code);
    state.set(sent.code, { amount: sent.amount, version: (before?.version ?? 0) + 1 });
  }
  return state;
}

async function verifyOk(path: string): Promise<number> {
  const verified = await run(["verify", "--db", path], dir.path);
  expect({ code: verified.code, stderr: verified.stderr }).toEqual({ code: 0, stderr: "" });
  const match = /^OK: (\d+) events/.exec(verified.stdout);
  expect(match).not.toBeNull();
  return Number(match![1]);
}

describe("crash safety: SIGKILL during concurrent writes", () => {
  test(
    `${ROUNDS} rounds of ${WORKERS} clients killed 0.3-1.5 s into the load: nothing acknowledged is lost, nothing applied twice`,
    async () => {
      const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const random = prng(seed);
      console.log(`crash-safety seed ${seed} (set CRASH_SEED to replay the same choices)`);
      // Half the clients send an Idempotency-Key with every request.
      const workers: Worker[] = Array.from({ length: WORKERS }, (_, index) => ({ index, idempotent: index % 2 === 0, owned: [], nextCode: 1, counter: 0 }));

      for (let round = 0; round < ROUNDS; round++) {
        const server = await startServer(SERVE_ARGS, dir.path);
        if (round > 0) {
          const retried = await retryUnanswered(server, workers);
          expect(retried.filter((sent) => sent.retry !== "acked").map((sent) => `${sent.id}: ${sent.retry} ${sent.refusal ?? ""}`)).toEqual([]);
          // A request the crash had already committed is answered from its idempotency record, the others anew.
          expect(retried.map((sent) => [sent.id, sent.replayed])).toEqual(retried.map((sent) => [sent.id, sent.applied]));
          // What the crash left (checked on the copy) is what the restarted service, after its own WAL recovery, serves.
          const expected = expectedState();
          for (const sent of retried) {
            const before = expected.get(sent.code);
            if (!sent.applied) expected.set(sent.code, { amount: sent.amount, version: (before?.version ?? 0) + 1 });
          }
          const mismatches: string[] = [];
          await Promise.all(
            [...expected].map(async ([code, want]) => {
              const response = await fetch(`${server.baseUrl}/api/opportunities/${code}`, { headers: { "x-internal-secret": SECRET } });
              const body = (await response.json()) as { code: string; data: { amount: number; version: number } | null };
              if (body.code !== "0" || body.data?.amount !== want.amount || body.data?.version !== want.version) {
                mismatches.push(`${code}: want ${JSON.stringify(want)}, got ${JSON.stringify(body)}`);
              }
            }),
          );
          expect(mismatches).toEqual([]);
        }

        const state = { killed: false };
        const sentBefore = log.length;
        const running = workers.map((worker) => drive(worker, server.baseUrl, round, random, state));
        const delay = 300 + Math.floor(random() * 1200);
        // The kill comes from another process, so it does not wait for this (client) event loop to be idle:
        // it lands at any point of a request, before, during or after its commit. The killer prints the wall
        // clock (ms) just before it sends the signal.
        const killer = Bun.spawn(["sh", "-c", `sleep ${(delay / 1000).toFixed(3)}; date +%s%3N; kill -KILL ${server.child.pid}`], { stdout: "pipe" });
        const exitCode = await server.child.exited;
        state.killed = true;
        // Had the service died by itself first, the killer must not signal a pid that may since be reused.
        if (killer.exitCode === null) killer.kill("SIGKILL");
        await killer.exited;
        const killedAt = Number((await new Response(killer.stdout).text()).trim());
        expect(Number.isFinite(killedAt)).toBe(true);
        expect({ exitCode, signal: server.child.signalCode }).toEqual({ exitCode: expect.any(Number), signal: "SIGKILL" });
        await Promise.all(running);

        const sentNow = log.slice(sentBefore);
        const refused = sentNow.filter((sent) => sent.outcome === "refused").map((sent) => `${sent.id}: ${sent.refusal}`);
        expect(refused).toEqual([]);
        // Only requests in flight at the kill may go unanswered.
        const early = sentNow.filter((sent) => sent.outcome === "unanswered" && sent.failedAt! < killedAt).map((sent) => `${sent.id} failed at ${sent.failedAt}, kill at ${killedAt}`);
        expect(early).toEqual([]);
        const acked = sentNow.filter((sent) => sent.outcome === "acked").length;
        expect(acked).toBeGreaterThan(WORKERS);

        // The database exactly as the crash left it, checked on a copy: the original is recovered by the service.
        const snapshotDir = join(dir.path, `crash-${round}`);
        mkdirSync(snapshotDir);
        const snapshot = join(snapshotDir, "crash.db");
        copyFileSync(dbPath, snapshot);
        if (existsSync(`${dbPath}-wal`)) copyFileSync(`${dbPath}-wal`, `${snapshot}-wal`);
        const verifiedEvents = await verifyOk(snapshot);
        const checked = checkStore(snapshot);
        expect(verifiedEvents).toBe(checked.events);
        const unanswered = sentNow.filter((sent) => sent.outcome === "unanswered");
        console.log(
          `round ${round + 1}: killed after ${delay} ms; ${sentNow.length} requests, ${acked} acknowledged, ${unanswered.length} unanswered ` +
            `(${unanswered.filter((sent) => sent.applied).length} of them applied); store: ${checked.events} events, ${checked.opportunities} opportunities`,
        );
      }

      // Last restart: retry what is still unanswered, stop cleanly, and check the original database itself.
      const server = await startServer(SERVE_ARGS, dir.path);
      const retried = await retryUnanswered(server, workers);
      expect(retried.filter((sent) => sent.retry !== "acked").map((sent) => `${sent.id}: ${sent.retry} ${sent.refusal ?? ""}`)).toEqual([]);
      expect(retried.map((sent) => [sent.id, sent.replayed])).toEqual(retried.map((sent) => [sent.id, sent.applied]));
      expect(await stop(server)).toBe(0);
      const events = await verifyOk(dbPath);
      const checked = checkStore(dbPath);
      expect(events).toBe(checked.events);
      // Every request with an idempotency key has now been answered, and each is in the store exactly once.
      const idempotent = log.filter((sent) => sent.key !== undefined);
      expect(idempotent.filter((sent) => !acknowledged(sent) || !sent.applied).map((sent) => sent.id)).toEqual([]);
      const expected = expectedState();
      expect(checked.opportunities).toBe(expected.size);
      expect(events).toBe(log.filter((sent) => sent.applied).length);
    },
    TEST_TIMEOUT,
  );
});
