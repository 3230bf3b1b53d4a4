/**
 * The SQLite adapter of the Storage port on real files in temp dirs: the shared storage contract, then what is
 * SQLite's own (the synchronous commit with lockFree, the busy lock handed over, storage failures rolling a
 * batch back whole, prune in chunks, reopening a file).
 */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { KeyRetention } from "../../src/idempotency";
import { StorageUnavailableError } from "../../src/storage-errors";
import { openSqliteStorage, type SqliteStorage } from "../../src/storage/sqlite/storage";
import { needsOf, planBatch, type WriteRequest } from "../../src/write/batch-plan";
import { GroupCommit } from "../../src/write/group-commit";
import { makeTempDir, type TempDir } from "../support/temp-dir";
import { allRows, claim, create, expectSoundChain, ManualClock, update } from "./storage-contract";
import { describeStorageContract } from "./storage-contract";

describeStorageContract("SQLite", async () => {
  const dir = makeTempDir("sqlite-storage-contract-");
  const storage = openSqliteStorage(join(dir.path, "opportunities.db"));
  return {
    storage,
    async dispose() {
      await storage.close();
      dir.cleanup();
    },
  };
});

const META = { actor: "oms", requestId: "req-sqlite" };
const retention = new KeyRetention();

let dir: TempDir | undefined;
const opened: SqliteStorage[] = [];
const others: Database[] = [];
afterEach(() => {
  for (const db of others.splice(0)) db.close();
  for (const storage of opened.splice(0)) storage.closeNow();
  dir?.cleanup();
  dir = undefined;
});

function open(): SqliteStorage {
  dir ??= makeTempDir("sqlite-storage-");
  const storage = openSqliteStorage(join(dir.path, "opportunities.db"));
  opened.push(storage);
  return storage;
}

/** Plans `requests` against what commitBatchNow reads and commits them, as GroupCommit does. */
function commitNow(storage: SqliteStorage, requests: WriteRequest[], now = new Date(), options: { lockFree?: boolean } = {}) {
  const needs = needsOf(requests, now, retention);
  return storage.commitBatchNow(needs, (snapshot) => planBatch(requests, snapshot, { now, retention }), options);
}

/** Every table's rows, for "nothing changed". */
function everything(storage: SqliteStorage) {
  const all = (table: string) => storage.db.query(`SELECT * FROM ${table} ORDER BY 1, 2`).all();
  return { events: all("events"), opportunities: all("opportunities"), keys: all("idempotency_keys"), counts: all("idempotency_key_counts") };
}

describe("SQLite: commitBatch with a plan", () => {
  test("reads the snapshot under the lock, writes events, projection and keys, and reports the plan", () => {
    const storage = open();
    const first = commitNow(storage, [{ command: create("OPP-1", { amount: 5 }), metadata: META, idempotency: claim("k-1") }]);
    expect(first.plan.outcomes).toEqual([{ result: expect.objectContaining({ ok: true, id: 1, version: 1, appended: 1 }) }]);
    expect(first.seconds).toBeGreaterThanOrEqual(0);

    // The second batch is decided against what the first committed: its state, its key, the head after it.
    let seen: unknown;
    storage.commitBatchNow({ codes: ["OPP-1", "OPP-2"], claims: [claim("k-1")], clients: ["oms"], keysCutoff: new Date(0).toISOString() }, (snapshot) => {
      seen = snapshot;
      return planBatch([], snapshot, { now: new Date(), retention });
    });
    expect(seen).toMatchObject({
      head: { position: 1, hash: first.plan.head.hash },
      maxId: 1,
      states: new Map([
        ["OPP-1", expect.objectContaining({ id: 1, version: 1, amount: 5 })],
        ["OPP-2", null],
      ]),
      keys: new Map([["oms\nk-1", { fingerprint: "fp-k-1", outcome: expect.objectContaining({ ok: true, id: 1 }) }]]),
      keysHeld: new Map([["oms", 1]]),
    });
  });

  test("an update writes only the changed columns, version and updated_at; the row equals the fold", async () => {
    const storage = open();
    commitNow(storage, [{ command: create("OPP-U", { amount: 5, description: "before" }), metadata: META }]);
    // A column the update does not name, changed behind the service's back, is left as it is: not rewritten.
    storage.db.run("UPDATE opportunities SET project_location = 'behind' WHERE code = 'OPP-U'");
    const later = new Date(Date.now() + 1000);
    commitNow(storage, [{ command: update("OPP-U", { amount: 6 }), metadata: META }], later);
    expect(await storage.findOpportunity("OPP-U")).toMatchObject({ amount: 6, description: "before", projectLocation: "behind", version: 2, updatedAt: later.toISOString() });
  });

  test("a storage failure in the middle of the writes rolls the whole batch back and comes out as StorageUnavailableError", () => {
    const storage = open();
    commitNow(storage, [{ command: create("OPP-KEEP"), metadata: META }]);
    const before = everything(storage);
    const apply = storage.opportunities.applyChange.bind(storage.opportunities);
    let applied = 0;
    storage.opportunities.applyChange = (change) => {
      apply(change);
      if (++applied === 2) throw Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR_WRITE" });
    };
    const batch = [
      { command: create("OPP-A"), metadata: META, idempotency: claim("k-a") },
      { command: update("OPP-KEEP", { amount: 9 }), metadata: META },
      { command: create("OPP-B"), metadata: META, idempotency: claim("k-b") },
    ];
    let thrown: unknown;
    try {
      commitNow(storage, batch);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StorageUnavailableError);
    expect((thrown as StorageUnavailableError).code).toBe("SQLITE_IOERR_WRITE");
    expect(storage.db.inTransaction).toBe(false);
    expect(everything(storage)).toEqual(before);

    storage.opportunities.applyChange = apply;
    expect(commitNow(storage, batch).plan.rows.map((row) => row.position)).toEqual([2, 3, 4]);
  });

  test("a plan that breaks a constraint (a duplicate event id) is refused whole; the error is not a storage failure", async () => {
    const storage = open();
    const requests = [{ command: create("OPP-X"), metadata: META }];
    const now = new Date();
    const plan = planBatch(requests, { head: null, maxId: 0, states: new Map([["OPP-X", null]]), keys: new Map(), keysHeld: new Map() }, { now, retention });
    storage.commitBatchNow(needsOf(requests, now, retention), () => plan);
    const before = everything(storage);
    const again = [{ command: create("OPP-Y"), metadata: META }];
    const thrown = (() => {
      try {
        storage.commitBatchNow(needsOf(again, now, retention), (snapshot) => {
          const next = planBatch(again, snapshot, { now, retention, nextEventId: () => plan.rows[0]!.event_id });
          return next;
        });
      } catch (error) {
        return error;
      }
    })();
    expect(thrown).not.toBeInstanceOf(StorageUnavailableError);
    expect((thrown as Error).message).toContain("UNIQUE constraint failed: events.event_id");
    expect(everything(storage)).toEqual(before);
    await expectSoundChain(storage);
  });
});

describe("SQLite: the write lock", () => {
  test("lockFree fails at once while another connection holds the lock, writes nothing, and the storage waits again after", () => {
    const storage = open();
    commitNow(storage, [{ command: create("OPP-L"), metadata: META }]);
    const other = new Database(storage.location);
    others.push(other);
    other.run("BEGIN IMMEDIATE");
    const before = everything(storage);
    let thrown: unknown;
    try {
      commitNow(storage, [{ command: update("OPP-L", { amount: 1 }), metadata: META }], new Date(), { lockFree: true });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StorageUnavailableError);
    expect((thrown as StorageUnavailableError).lockHeld).toBe(true);
    expect(everything(storage)).toEqual(before);
    // The busy timeout is back for every other commit.
    expect(storage.db.query<{ timeout: number }, []>("PRAGMA busy_timeout").get()!.timeout).toBe(5000);
    other.run("ROLLBACK");
    expect(commitNow(storage, [{ command: update("OPP-L", { amount: 1 }), metadata: META }], new Date(), { lockFree: true }).plan.rows).toHaveLength(1);
  });

  test("readiness answers without writing or waiting, and is red after a storage failure until the cause is gone", async () => {
    const storage = open();
    expect(await storage.readiness()).toBeNull();
    const apply = storage.opportunities.applyChange.bind(storage.opportunities);
    storage.opportunities.applyChange = () => {
      throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    };
    expect(() => commitNow(storage, [{ command: create("OPP-R"), metadata: META }])).toThrow(StorageUnavailableError);
    storage.opportunities.applyChange = apply;
    // Free space has not grown since the failure: still red.
    expect(await storage.readiness()).toContain("SQLITE_FULL");
  });
});

describe("SQLite: prune and reopen", () => {
  test("expired keys are pruned chunk by chunk through the group-commit queue; a reopened file keeps everything else", async () => {
    const storage = open();
    const clock = new ManualClock();
    const writer = new GroupCommit(storage, { now: clock.now, idempotencyPruneChunk: 2 });
    for (let index = 0; index < 5; index++) await writer.execute(create(`OPP-P${index}`), META, claim(`p-${index}`));
    clock.advance(25 * 3_600_000);
    await writer.execute(create("OPP-FRESH"), META, claim("fresh"));
    expect(await writer.pruneIdempotencyKeys(new Date(clock.ms - 24 * 3_600_000))).toBe(5);
    expect(storage.db.query("SELECT key FROM idempotency_keys").all()).toEqual([{ key: "fresh" }]);

    const rows = await allRows(storage);
    await storage.close();
    const reopened = openSqliteStorage(storage.location);
    opened.push(reopened);
    expect(await allRows(reopened)).toEqual(rows);
    expect(await reopened.countOpportunities()).toBe(6);
    await expectSoundChain(reopened);
  });
});
