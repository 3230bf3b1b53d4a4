import { describe, expect, test } from "bun:test";
import { verifyStore } from "../../src/audit/verify-store";
import type { WriteResult } from "../../src/opportunity-writer";
import { StorageUnavailableError } from "../../src/storage-errors";
import { CREATE_PATH, call, expectSuccess } from "../http/http-client";
import { sqliteOnly, verifyBackend, type TestBackend } from "../support/test-backend";
import { startBackendService } from "../support/test-service";
import {
  afterProjectionWrite,
  META,
  createCommand,
  eventCount,
  idempotencyKeysOf,
  positions,
  recordCommits,
  settlesBefore,
  updateCommand,
  useTempService,
  useTestDatabase,
} from "./reliability-support";

// Group commit: requests that arrive together are committed in one transaction, each decided against the state
// the ones before it left, each answered on its own; one command's failure stays its own (a batch whose write
// fails unexpectedly is retried request by request), a storage failure fails its whole batch and leaves
// nothing behind.

const CREATED = "OpportunityCreated";
const UPDATED = "OpportunityUpdated";

const okId = (result: WriteResult) => (result.ok ? result.id : null);
const codesInTable = async (s: TestBackend) =>
  (await s.tables.select<{ id: bigint; code: string; version: bigint }>("SELECT id, code, version FROM opportunities ORDER BY id")).map((row) => [Number(row.id), row.code, Number(row.version)]);

/** One turn of the event loop: a request sent after it arrives in a later turn than one sent before. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("batching", () => {
  const temp = useTestDatabase();

  test("fifty creates sent at once: fewer transactions than requests, ids 1..50 in order, no gaps", async () => {
    const s = await temp.open();
    const commits = recordCommits(s.writer);
    const codes = Array.from({ length: 50 }, (_, index) => `OPP-GC-${String(index + 1).padStart(2, "0")}`);
    const results = await Promise.all(codes.map((code) => s.writer.execute(createCommand(code), META)));

    expect(results.map((result) => [result.ok, okId(result), result.version, result.appended])).toEqual(
      codes.map((_, index) => [true, index + 1, 1, 1]),
    );
    expect(commits.length).toBeGreaterThanOrEqual(1);
    expect(commits.length).toBeLessThan(50);
    expect(commits.flat()).toEqual(codes.map(() => CREATED));
    expect(await codesInTable(s)).toEqual(codes.map((code, index) => [index + 1, code, 1]));
    expect(await positions(s.tables)).toEqual(codes.map((_, index) => index + 1));
    expect(await verifyBackend(s)).toMatchObject({ ok: true, events: 50, opportunities: 50, problem: null });
  });

  test("a create and then an update of the same new code in one batch both succeed", async () => {
    const s = await temp.open();
    const commits = recordCommits(s.writer);
    const [created, updated, guarded, stale] = await Promise.all([
      s.writer.execute(createCommand("OPP-GC-NEW", { amount: 1 }), META),
      s.writer.execute(updateCommand("OPP-GC-NEW", { amount: 2 }), META),
      s.writer.execute(updateCommand("OPP-GC-NEW", { description: "第三版" }, 2), META),
      s.writer.execute(updateCommand("OPP-GC-NEW", { amount: 99 }, 2), META),
    ]);
    expect(commits).toEqual([[CREATED, UPDATED, UPDATED]]);
    expect(created).toMatchObject({ ok: true, id: 1, version: 1 });
    expect(updated).toMatchObject({ ok: true, id: 1, version: 2 });
    // Decided against the state the update before it left (version 2), in the same transaction.
    expect(guarded).toMatchObject({ ok: true, id: 1, version: 3 });
    expect(stale).toEqual({ ok: false, reason: "conflict", message: "商机已被修改，当前版本为 3", version: 3 });
    expect(await s.storage.findOpportunity("OPP-GC-NEW")).toMatchObject({ amount: 2, description: "第三版", version: 3 });
  });

  test("one command's rejection does not affect the others in its batch", async () => {
    const s = await temp.open();
    const commits = recordCommits(s.writer);
    const results = await Promise.all([
      s.writer.execute(createCommand("OPP-GC-A"), META),
      s.writer.execute(updateCommand("OPP-GC-GHOST", { amount: 1 }), META),
      s.writer.execute(createCommand("OPP-GC-A"), META),
      s.writer.execute(createCommand("OPP-GC-B"), META),
      s.writer.execute(updateCommand("OPP-GC-A", { amount: 3 }), META),
    ]);
    expect(commits).toEqual([[CREATED, CREATED, UPDATED]]);
    expect(results[0]).toMatchObject({ ok: true, id: 1, version: 1 });
    expect(results[1]).toEqual({ ok: false, reason: "not_found", message: "商机不存在" });
    expect(results[2]).toEqual({ ok: false, reason: "already_exists", message: "商机编号已存在: OPP-GC-A" });
    expect(results[3]).toMatchObject({ ok: true, id: 2, version: 1 });
    expect(results[4]).toMatchObject({ ok: true, id: 1, version: 2 });
    expect(await eventCount(s.tables)).toBe(3);
  });

  test("maxBatch: 1 commits one transaction per request", async () => {
    const s = await temp.open({ writer: { maxBatch: 1 } });
    const commits = recordCommits(s.writer);
    const results = await Promise.all(Array.from({ length: 10 }, (_, index) => s.writer.execute(createCommand(`OPP-MB1-${index}`), META)));
    expect(results.map(okId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(commits).toEqual(Array.from({ length: 10 }, () => [CREATED]));
  });

  test("maxBatch caps each transaction; every request is still committed", async () => {
    const s = await temp.open({ writer: { maxBatch: 4 } });
    const commits = recordCommits(s.writer);
    const results = await Promise.all(Array.from({ length: 10 }, (_, index) => s.writer.execute(createCommand(`OPP-MB4-${index}`), META)));
    expect(results.map(okId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(commits.length).toBeGreaterThanOrEqual(3);
    for (const commit of commits) expect(commit.length).toBeLessThanOrEqual(4);
    expect(commits.flat()).toHaveLength(10);
  });

  test("a single request at concurrency 1 is committed without waiting for others", async () => {
    const s = await temp.open();
    const commits = recordCommits(s.writer);
    const alone = s.writer.execute(createCommand("OPP-ALONE"), META);
    // Not held for company: it settles long before any batch could fill. (100 ms was too tight for one
    // PostgreSQL commit while the SQLite and PostgreSQL passes of make test share two cores.)
    expect(await settlesBefore(alone, 1_000)).toBe("settled");
    expect(await alone).toMatchObject({ ok: true, id: 1 });
    expect(commits).toEqual([[CREATED]]);
  });

  test("batchWaitMs lets requests of later turns of the loop join the batch", async () => {
    const waiting = await temp.open({ writer: { batchWaitMs: 300 } });
    const waitingCommits = recordCommits(waiting.writer);
    const first = waiting.writer.execute(createCommand("OPP-BW-1"), META);
    await nextTurn();
    const second = waiting.writer.execute(createCommand("OPP-BW-2"), META);
    expect((await Promise.all([first, second])).map(okId)).toEqual([1, 2]);
    expect(waitingCommits).toEqual([[CREATED, CREATED]]);
  });

  // SQLite takes its lock at once, so with 0 a request of a later turn forms the next batch. On PostgreSQL the
  // batch is formed once the head lock is held, and what arrived while waiting for it joins (by design; its unit
  // test is in test/unit/group-commit.test.ts), so there the split depends on how long the lock took.
  sqliteOnly.test("with batchWaitMs 0 a request of a later turn commits on its own", async () => {
    const eager = await temp.open({ writer: { batchWaitMs: 0 } });
    const eagerCommits = recordCommits(eager.writer);
    const third = eager.writer.execute(createCommand("OPP-BW-3"), META);
    await nextTurn();
    const fourth = eager.writer.execute(createCommand("OPP-BW-4"), META);
    expect((await Promise.all([third, fourth])).map(okId)).toEqual([1, 2]);
    expect(eagerCommits).toEqual([[CREATED], [CREATED]]);
  });

  test(
    "a batch that is full commits at once instead of waiting out batchWaitMs",
    async () => {
      // batchWaitMs is how long a batch may wait "for more requests"; a full batch can take no more.
      const s = await temp.open({ writer: { maxBatch: 2, batchWaitMs: 2_000 } });
      const commits = recordCommits(s.writer);
      const both = Promise.all([s.writer.execute(createCommand("OPP-FULL-1"), META), s.writer.execute(createCommand("OPP-FULL-2"), META)]);
      const outcome = await settlesBefore(both, 500);
      // Let the batch finish before the database is closed, whatever the outcome.
      const results = await both;
      expect(results.map(okId)).toEqual([1, 2]);
      expect(commits).toEqual([[CREATED, CREATED]]);
      expect(outcome).toBe("settled");
    },
    10_000,
  );

  test("over HTTP: thirty creates at once are committed in fewer transactions, each answered with its own id", async () => {
    const http = await startBackendService();
    try {
      const commits = recordCommits(http.writer);
      const codes = Array.from({ length: 30 }, (_, index) => `OPP-HTTP-GC-${index}`);
      const answers = await Promise.all(
        codes.map((code) => call(http, "POST", CREATE_PATH, { body: { opportunityCode: code, opportunityName: "n", endCustomerName: "c" } })),
      );
      const ids = answers.map((answer) => expectSuccess(answer));
      expect(commits.length).toBeLessThan(30);
      expect(commits.flat()).toHaveLength(30);
      expect([...ids].sort((a, b) => Number(a) - Number(b))).toEqual(codes.map((_, index) => index + 1));
      for (const [index, code] of codes.entries()) expect((await http.storage.findOpportunity(code))?.id).toBe(ids[index] as number);
      answers.forEach((answer) => expect(answer.headers.get("etag")).toBe('"1"'));
    } finally {
      await http.dispose();
    }
  });
});

// These make a write fail inside the transaction with SQLite's own means (a hook on the SQLite projection table,
// a deferred foreign key checked at COMMIT, an SQLITE_IOERR): they run in the SQLite run only. The same
// guarantees on PostgreSQL are in test/storage/storage-contract.ts and test/storage/postgres-faults.test.ts.
sqliteOnly.describe("failures inside a batch", () => {
  const temp = useTempService();

  test("an unexpected error in one command rejects only its promise; the others commit and no trace of it remains", async () => {
    const s = temp.open();
    let failing = true;
    afterProjectionWrite(s, (change) => {
      if (failing && change.state.opportunityCode === "OPP-BOOM") throw new Error("projector failed for OPP-BOOM");
    });
    const parts = s;
    const commits = recordCommits(parts.writer);
    const claim = { client: "oms", key: "boom-key", fingerprint: "fp-boom" };

    const settled = await Promise.allSettled([
      parts.writer.execute(createCommand("OPP-OK-1"), META, { client: "oms", key: "ok-key", fingerprint: "fp-ok" }),
      parts.writer.execute(createCommand("OPP-BOOM"), META, claim),
      parts.writer.execute(updateCommand("OPP-OK-1", { amount: 5 }), META),
      parts.writer.execute(createCommand("OPP-OK-2"), META),
    ]);
    expect(settled.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(Error);
    expect(((settled[1] as PromiseRejectedResult).reason as Error).message).toBe("projector failed for OPP-BOOM");
    const values = settled.map((outcome) => (outcome.status === "fulfilled" ? outcome.value : null));
    expect(values[0]).toMatchObject({ ok: true, id: 1, version: 1 });
    expect(values[2]).toMatchObject({ ok: true, id: 1, version: 2 });
    // The failed create's id 2 was rolled back with it, so the next create gets it: no gap.
    expect(values[3]).toMatchObject({ ok: true, id: 2, version: 1 });
    // The batch failed whole and was then committed request by request: the faulty one alone failed.
    expect(commits).toEqual([[CREATED], [UPDATED], [CREATED]]);

    // No event, no projection row, no idempotency record of the failed command; the chain is whole.
    expect(s.store.readStream("OPP-BOOM")).toEqual([]);
    expect(s.opportunities.find("OPP-BOOM")).toBeNull();
    expect(await idempotencyKeysOf(s.tables)).toEqual([{ client: "oms", key: "ok-key" }]);
    expect(await positions(s.tables)).toEqual([1, 2, 3]);
    expect(verifyStore(s.db)).toMatchObject({ ok: true, events: 3, opportunities: 2, problem: null });

    // Its key was released and never recorded: a retry is decided afresh.
    failing = false;
    const retry = await parts.writer.execute(createCommand("OPP-BOOM"), META, claim);
    expect(retry).toMatchObject({ ok: true, id: 3, version: 1, appended: 1 });
    expect(retry.replayed).toBeUndefined();
  });

  test("the first command of a batch failing after its append leaves no gap and no broken link for the next", async () => {
    // The first append of a transaction is where the store reads the chain's head; the failed attempt's
    // position and hash must go with its rollback.
    const s = temp.open();
    await s.writer.execute(createCommand("OPP-BEFORE"), META);
    afterProjectionWrite(s, (change) => {
      if (change.state.opportunityCode === "OPP-FIRST-BOOM") throw new Error("projector failed");
    });
    const parts = s;
    const settled = await Promise.allSettled([
      parts.writer.execute(createCommand("OPP-FIRST-BOOM"), META),
      parts.writer.execute(createCommand("OPP-AFTER-1"), META),
      parts.writer.execute(updateCommand("OPP-BEFORE", { amount: 3 }), META),
    ]);
    expect(settled.map((outcome) => outcome.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
    expect(await positions(s.tables)).toEqual([1, 2, 3]);
    expect(verifyStore(s.db)).toMatchObject({ ok: true, events: 3, problem: null });
    expect(s.opportunities.find("OPP-BEFORE")).toMatchObject({ version: 2, amount: 3 });
  });

  test("a failed COMMIT fails its batch whole; retried one by one, only the request whose COMMIT fails is rejected", async () => {
    const s = temp.open();
    await s.writer.execute(createCommand("OPP-BEFORE", { amount: 1 }), META);
    // A deferred foreign key is checked at COMMIT: an event of OPP-POISON makes the COMMIT itself fail.
    s.db.run("CREATE TABLE commit_guard_parent (id INTEGER PRIMARY KEY)");
    s.db.run("CREATE TABLE commit_guard (parent INTEGER REFERENCES commit_guard_parent(id) DEFERRABLE INITIALLY DEFERRED)");
    s.db.run("CREATE TRIGGER commit_guard_poison AFTER INSERT ON events WHEN NEW.stream_id = 'OPP-POISON' BEGIN INSERT INTO commit_guard VALUES (404); END");
    const commits = recordCommits(s.writer);
    const claim = { client: "oms", key: "batch-key", fingerprint: "fp-batch" };

    const settled = await Promise.allSettled([
      s.writer.execute(createCommand("OPP-FINE"), META, claim),
      s.writer.execute(updateCommand("OPP-BEFORE", { amount: 2 }), META),
      s.writer.execute(createCommand("OPP-POISON"), META),
      s.writer.execute(updateCommand("OPP-MISSING", { amount: 2 }), META),
    ]);
    expect(settled.map((outcome) => outcome.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect(((settled[2] as PromiseRejectedResult).reason as { code?: string }).code).toBe("SQLITE_CONSTRAINT_FOREIGNKEY");
    const values = settled.map((outcome) => (outcome.status === "fulfilled" ? outcome.value : null));
    expect(values[0]).toMatchObject({ ok: true, id: 2, version: 1, appended: 1 });
    expect(values[1]).toMatchObject({ ok: true, id: 1, version: 2, appended: 1 });
    expect(values[3]).toMatchObject({ ok: false, message: "商机不存在" });
    // The whole batch rolled back first (no commit reported), then each request was committed alone.
    expect(commits).toEqual([[CREATED], [UPDATED], []]);
    expect(s.db.inTransaction).toBe(false);
    expect(s.store.readStream("OPP-POISON")).toEqual([]);
    expect(s.opportunities.find("OPP-POISON")).toBeNull();
    expect(await positions(s.tables)).toEqual([1, 2, 3]);
    expect(await idempotencyKeysOf(s.tables)).toEqual([{ client: "oms", key: "batch-key" }]);
    expect(s.opportunities.find("OPP-BEFORE")).toMatchObject({ amount: 2, version: 2 });

    // The writer recovers; the key of the committed request answers its first outcome again.
    s.db.run("DROP TRIGGER commit_guard_poison");
    expect(verifyStore(s.db)).toMatchObject({ ok: true, events: 3, problem: null });
    expect(await s.writer.execute(createCommand("OPP-POISON"), META)).toMatchObject({ ok: true, id: 3, version: 1 });
    expect(await s.writer.execute(createCommand("OPP-FINE"), META, claim)).toMatchObject({ ok: true, id: 2, version: 1, replayed: true });
  });

  test("a commit that fails for the storage rejects every promise of its batch with StorageUnavailableError", async () => {
    const s = temp.open();
    await s.writer.execute(createCommand("OPP-KEPT"), META);
    const before = await eventCount(s.tables);
    const commits = recordCommits(s.writer);
    // The batch's events are written, then the transaction fails the way a disk I/O error does.
    const restore = afterProjectionWrite(s, () => {
      throw Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR_FSYNC" });
    });
    const claim = { client: "oms", key: "io-key", fingerprint: "fp-io" };
    const settled = await Promise.allSettled([
      s.writer.execute(createCommand("OPP-IO-1"), META, claim),
      s.writer.execute(updateCommand("OPP-KEPT", { amount: 9 }), META),
      s.writer.execute(createCommand("OPP-IO-2"), META),
    ]);
    expect(settled.map((outcome) => outcome.status)).toEqual(["rejected", "rejected", "rejected"]);
    for (const outcome of settled) {
      const reason = (outcome as PromiseRejectedResult).reason as StorageUnavailableError;
      expect(reason).toBeInstanceOf(StorageUnavailableError);
      expect(reason.sqliteCode).toBe("SQLITE_IOERR_FSYNC");
      expect(reason.userMessage).toBe("数据库暂时无法写入，本次修改未保存，请稍后重试");
    }
    expect(commits).toEqual([]);
    expect(await eventCount(s.tables)).toBe(before);
    expect(s.opportunities.find("OPP-KEPT")).toMatchObject({ amount: null, version: 1 });
    expect(s.opportunities.find("OPP-IO-1")).toBeNull();
    expect(await idempotencyKeysOf(s.tables)).toEqual([]);

    // Once the storage is back, the same key is applied (not in flight, not replayed).
    restore();
    const retry = await s.writer.execute(createCommand("OPP-IO-1"), META, claim);
    expect(retry).toMatchObject({ ok: true, id: 2, appended: 1 });
    expect(retry.replayed).toBeUndefined();
  });
});
