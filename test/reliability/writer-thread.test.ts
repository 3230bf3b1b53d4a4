import { Database } from "bun:sqlite";
import { beforeEach, describe, expect, test } from "bun:test";
import { verifyStore } from "../../src/audit/verify-store";
import type { WriterOptions } from "../../src/opportunity-writer";
import { StorageUnavailableError } from "../../src/storage-errors";
import { WriteWorkerClient } from "../../src/write-worker-client";
import { META, createCommand, eventCount, updateCommand, useTempService, type SqliteService } from "./reliability-support";

// The writer thread's client: requests of one turn of the loop go to the writer thread together (group
// commit there); a request that comes alone is committed on the calling thread's own connection, so that
// concurrency 1 pays no hop between threads. The two connections take turns on one database and chain.
// SQLite only: the writer thread exists for SQLite (PostgreSQL commits from the HTTP thread).

let client: WriteWorkerClient | undefined;
// The writer thread ends before the services on its database close.
const temp = useTempService({
  beforeClose: async () => {
    await client?.close();
    client = undefined;
  },
});
let service: SqliteService;
let alone = true;

beforeEach(() => {
  service = temp.open();
  alone = true;
});

async function start(writer: WriterOptions = {}): Promise<{ client: WriteWorkerClient; commits: string[][] }> {
  client = await WriteWorkerClient.start(temp.path, writer, { writer: service.writer, isAlone: () => alone });
  const commits: string[][] = [];
  client.onCommit = (_seconds, types) => commits.push([...types]);
  return { client, commits };
}

const versionsOf = (code: string) =>
  service.db.query<{ version: number }, [string]>("SELECT version FROM events WHERE stream_id = ? ORDER BY position").all(code).map((row) => row.version);

describe("where a write is committed", () => {
  test("a request that comes alone is committed on this thread, once, and reported like any commit", async () => {
    const { client, commits } = await start();
    expect(await client.execute(createCommand("OPP-LONE"), META)).toMatchObject({ ok: true, id: 1, version: 1, appended: 1 });
    expect(client.counts).toEqual({ inProcess: 1, writerThread: 0 });
    expect(commits).toEqual([["OpportunityCreated"]]);
    expect(service.opportunities.find("OPP-LONE")?.version).toBe(1);
  });

  test("requests of one turn go to the writer thread together and commit in one transaction, in order", async () => {
    const { client, commits } = await start();
    const results = await Promise.all(["OPP-T1", "OPP-T2", "OPP-T3"].map((code) => client.execute(createCommand(code), META)));
    expect(results.map((result) => (result.ok ? result.id : null))).toEqual([1, 2, 3]);
    expect(client.counts).toEqual({ inProcess: 0, writerThread: 3 });
    expect(commits).toEqual([["OpportunityCreated", "OpportunityCreated", "OpportunityCreated"]]);
  });

  test("while other requests are being handled, even a single write goes to the writer thread", async () => {
    const { client } = await start();
    alone = false;
    expect(await client.execute(createCommand("OPP-BUSY"), META)).toMatchObject({ ok: true, id: 1 });
    expect(client.counts).toEqual({ inProcess: 0, writerThread: 1 });
  });

  test.each([
    ["one transaction per request (maxBatch 1)", { maxBatch: 1 }],
    ["a batch wait", { batchWaitMs: 1 }],
  ])("with %s, a lone request still goes to the writer thread", async (_name, writer) => {
    const { client } = await start(writer);
    expect(await client.execute(createCommand("OPP-SETTING"), META)).toMatchObject({ ok: true, id: 1 });
    expect(client.counts).toEqual({ inProcess: 0, writerThread: 1 });
  });
});

describe("failures on the writer thread", () => {
  test("a request whose write fails there fails alone, with its own error; the others of its batch commit", async () => {
    const { client, commits } = await start();
    alone = false;
    service.db.run("CREATE TRIGGER no_bad BEFORE INSERT ON opportunities WHEN NEW.code = 'OPP-BAD' BEGIN SELECT RAISE(ABORT, 'OPP-BAD refused'); END");
    const settled = await Promise.allSettled(["OPP-W1", "OPP-BAD", "OPP-W2"].map((code) => client.execute(createCommand(code), META)));
    expect(settled.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const reason = (settled[1] as PromiseRejectedResult).reason;
    expect(reason).not.toBeInstanceOf(StorageUnavailableError);
    expect(reason).toMatchObject({ message: "OPP-BAD refused", code: "SQLITE_CONSTRAINT_TRIGGER" });
    // The batch failed whole on the writer thread, then its requests were sent there one by one.
    expect(client.counts).toEqual({ inProcess: 0, writerThread: 6 });
    expect(commits).toEqual([["OpportunityCreated"], ["OpportunityCreated"]]);
    service.db.run("DROP TRIGGER no_bad");
    expect(service.opportunities.find("OPP-BAD")).toBeNull();
    expect(verifyStore(service.db)).toMatchObject({ ok: true, events: 2 });
  });
});

describe("another process holding the write lock", () => {
  test("a lone write is handed to the writer thread at once, which waits for the lock; this thread never blocks", async () => {
    const { client } = await start();
    await client.execute(createCommand("OPP-LOCK"), META);
    // An import beside the server: another connection holds the write lock for 300 ms.
    const other = new Database(temp.path);
    other.run("BEGIN IMMEDIATE");
    const released = Bun.sleep(300).then(() => other.run("COMMIT"));
    const written = client.execute(updateCommand("OPP-LOCK", { amount: 9 }), META);
    // With the busy timeout (5 s) on this thread, this timer would fire only after the lock is let go.
    const started = performance.now();
    await Bun.sleep(20);
    expect(performance.now() - started).toBeLessThan(200);
    expect(await written).toMatchObject({ ok: true, version: 2 });
    await released;
    other.close();
    expect(client.counts).toEqual({ inProcess: 1, writerThread: 1 });
    // The wait for the lock is still the configured one for everything else on this connection.
    expect(service.db.query<{ timeout: number }, []>("PRAGMA busy_timeout").get()?.timeout).toBe(5000);
    expect(verifyStore(service.db)).toMatchObject({ ok: true, events: 2 });
  });
});

describe("two connections, one chain", () => {
  test("lone and grouped writes to the same opportunity alternate: versions run on, the chain verifies", async () => {
    const { client } = await start();
    await client.execute(createCommand("OPP-ALT"), META);
    for (let round = 0; round < 20; round++) {
      // Alone: this thread. Then three in one turn: the writer thread, whose cached stream versions are stale.
      expect(await client.execute(updateCommand("OPP-ALT", { amount: round * 10 + 1 }), META)).toMatchObject({ ok: true });
      const group = await Promise.all([2, 3, 4].map((n) => client.execute(updateCommand("OPP-ALT", { amount: round * 10 + n }), META)));
      expect(group.every((result) => result.ok)).toBe(true);
    }
    expect(client.counts).toEqual({ inProcess: 21, writerThread: 60 });
    expect(versionsOf("OPP-ALT")).toEqual(Array.from({ length: 81 }, (_, index) => index + 1));
    expect(service.opportunities.find("OPP-ALT")).toMatchObject({ version: 81, amount: 194 });
    expect(verifyStore(service.db)).toMatchObject({ ok: true, events: 81 });
  });

  test("If-Match is checked against writes of the other connection", async () => {
    const { client } = await start();
    await Promise.all([client.execute(createCommand("OPP-IFM"), META), client.execute(createCommand("OPP-OTHER"), META)]);
    // Version 1 was written by the writer thread; this lone update is decided here against it.
    expect(await client.execute(updateCommand("OPP-IFM", { amount: 5 }, 1), META)).toMatchObject({ ok: true, version: 2 });
    expect(await client.execute(updateCommand("OPP-IFM", { amount: 6 }, 1), META)).toMatchObject({ ok: false, reason: "conflict", version: 2 });
    expect(await eventCount(service.tables)).toBe(3);
  });

  test("an idempotency key first used on one connection is replayed on the other, appending nothing", async () => {
    const { client } = await start();
    await client.execute(createCommand("OPP-KEY"), META);
    const claim = { client: "oms", key: "key-1", fingerprint: "f1" };
    const first = await client.execute(updateCommand("OPP-KEY", { amount: 7 }), META, claim);
    expect(first).toMatchObject({ ok: true, version: 2 });
    expect(client.counts.inProcess).toBe(2);
    const [replay] = await Promise.all([
      client.execute(updateCommand("OPP-KEY", { amount: 7 }), META, claim),
      client.execute(createCommand("OPP-KEY-2"), META),
    ]);
    expect(client.counts.writerThread).toBe(2);
    expect(replay).toMatchObject({ ok: true, version: 2, replayed: true });
    expect(versionsOf("OPP-KEY")).toEqual([1, 2]);
  });
});

describe("batch updates", () => {
  const items = (code: string, amounts: number[]) => amounts.map((amount) => ({ command: updateCommand(code, { amount }) }));

  test("a batch sent to the writer thread with other requests crosses whole: its items in order, one commit, its answer back without events", async () => {
    const { client, commits } = await start();
    await client.execute(createCommand("OPP-BT"), META);
    alone = false;
    const claim = { client: "oms", key: "batch-key", fingerprint: "fb" };
    const [batch, single] = await Promise.all([
      client.executeBatch({ items: [...items("OPP-BT", [1, 2]), { invalid: "至少传入一个需要更新的字段", opportunityCode: "OPP-BT" }], allOrNone: false }, META, claim),
      client.execute(createCommand("OPP-BT-2"), META),
    ]);
    expect(client.counts).toEqual({ inProcess: 1, writerThread: 2 });
    expect(commits.slice(1)).toEqual([["OpportunityUpdated", "OpportunityUpdated", "OpportunityCreated"]]);
    expect(single).toMatchObject({ ok: true, id: 2 });
    expect(batch).toEqual({
      ok: true,
      appended: 2,
      batch: {
        allOrNone: false,
        failedIndex: null,
        items: [
          { index: 0, opportunityCode: "OPP-BT", result: { ok: true, id: 1, version: 2, events: [] }, appended: 1 },
          { index: 1, opportunityCode: "OPP-BT", result: { ok: true, id: 1, version: 3, events: [] }, appended: 1 },
          { index: 2, opportunityCode: "OPP-BT", result: { ok: false, reason: "invalid", message: "至少传入一个需要更新的字段" }, appended: 0 },
        ],
      },
    });
    // Its retry, alone, is answered on this thread's connection from the key the writer thread stored.
    alone = true;
    expect(await client.executeBatch({ items: items("OPP-BT", [1, 2]), allOrNone: false }, META, claim)).toMatchObject({ ok: true, replayed: true });
    expect(versionsOf("OPP-BT")).toEqual([1, 2, 3]);
    expect(verifyStore(service.db)).toMatchObject({ ok: true, events: 4, findings: [] });
  });
});
