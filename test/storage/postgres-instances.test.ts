/**
 * Several instances of the service on one PostgreSQL database: each a PostgresStorage with a pool of its own and
 * a group-commit queue of its own, as two processes behind a load balancer would have.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import type { EventMetadata } from "../../events/opportunity-events";
import { openPostgresStorage, type PostgresStorage } from "../../src/storage/postgres/storage";
import { POSTGRES_SCHEMA_VERSION } from "../../src/storage/postgres/schema";
import { GroupCommit } from "../../src/write/group-commit";
import type { WriteResult } from "../../src/write/batch-plan";
import { TestDatabases, type TestDatabase } from "../support/postgres";
import { claim, create, expectSoundChain, expectStreamsConsistent, update } from "./storage-contract";

const databases = new TestDatabases();
const opened: PostgresStorage[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((storage) => storage.close()));
});
afterAll(() => databases.dropAll());

const meta = (requestId: string): EventMetadata => ({ actor: "oms", requestId });

async function instances(count: number, database?: TestDatabase) {
  const db = database ?? (await databases.create());
  const storages = await Promise.all(Array.from({ length: count }, () => openPostgresStorage(db.url)));
  opened.push(...storages);
  return { db, storages, writers: storages.map((storage) => new GroupCommit(storage)) };
}

describe("two instances committing at once", () => {
  test("32 writers over two instances: positions and versions gapless, one chain, every acknowledged write stored exactly once", async () => {
    const { storages, writers } = await instances(2);
    const [a, b] = writers as [GroupCommit, GroupCommit];
    const codes = Array.from({ length: 20 }, (_, index) => `SHARED-${index}`);
    for (const [index, code] of codes.entries()) expect(await (index % 2 ? a : b).execute(create(code), meta(`create-${code}`))).toMatchObject({ ok: true });
    // Each update sets a value no other sets: it always changes something, so each acknowledged one is one event.
    const acknowledged: string[] = [];
    let next = 0;
    const writer = async (worker: number) => {
      for (let round = 0; round < 12; round++) {
        const serial = next++;
        const requestId = `w${worker}-r${round}`;
        const result: WriteResult = await (worker % 2 ? a : b).execute(update(codes[serial % codes.length]!, { amount: serial + 1 }), meta(requestId));
        if (result.ok && result.appended === 1) acknowledged.push(requestId);
        else throw new Error(`${requestId}: ${JSON.stringify(result)}`);
      }
    };
    await Promise.all(Array.from({ length: 32 }, (_, worker) => writer(worker)));
    expect(acknowledged).toHaveLength(32 * 12);
    for (const storage of storages) {
      const rows = await expectSoundChain(storage);
      await expectStreamsConsistent(storage, rows);
      const updates = rows.filter((row) => row.type === "OpportunityUpdated").map((row) => (JSON.parse(row.metadata) as EventMetadata).requestId);
      expect(updates.sort()).toEqual(acknowledged.sort());
      expect(new Set(rows.filter((row) => row.type === "OpportunityCreated").map((row) => row.stream_id))).toEqual(new Set(codes));
    }
  });

  test("a write acknowledged by one instance is read by the other at once", async () => {
    const { storages, writers } = await instances(2);
    expect(await writers[0]!.execute(create("SEEN", { amount: 3 }), meta("r1"))).toMatchObject({ ok: true, id: 1 });
    expect(await storages[1]!.findOpportunity("SEEN")).toMatchObject({ amount: 3, version: 1 });
    expect(await writers[1]!.execute(update("SEEN", { amount: 4 }), meta("r2"))).toMatchObject({ ok: true, version: 2 });
    expect(await storages[0]!.findOpportunity("SEEN")).toMatchObject({ amount: 4, version: 2 });
    expect(await storages[0]!.head()).toEqual(await storages[1]!.head());
    // Ids are given under the lock too: the other instance's next create takes the next one.
    expect(await writers[1]!.execute(create("SEEN-2"), meta("r3"))).toMatchObject({ ok: true, id: 2 });
    expect(await writers[0]!.execute(create("SEEN-3"), meta("r4"))).toMatchObject({ ok: true, id: 3 });
  });

  test("If-Match: the version written by one instance makes the other's stale If-Match a conflict", async () => {
    const { storages, writers } = await instances(2);
    await writers[0]!.execute(create("IFM"), meta("c"));
    expect(await writers[0]!.execute(update("IFM", { amount: 1 }, 1), meta("a"))).toMatchObject({ ok: true, version: 2 });
    expect(await writers[1]!.execute(update("IFM", { amount: 2 }, 1), meta("b"))).toMatchObject({ ok: false, reason: "conflict", version: 2 });
    // At the same moment: one of the two wins, whichever instance it came through.
    const both = await Promise.all([writers[0]!.execute(update("IFM", { amount: 3 }, 2), meta("x")), writers[1]!.execute(update("IFM", { amount: 4 }, 2), meta("y"))]);
    expect(both.map((result) => result.ok).sort()).toEqual([false, true]);
    expect(both.find((result) => !result.ok)).toMatchObject({ reason: "conflict", version: 3 });
    expect((await storages[1]!.findOpportunity("IFM"))!.version).toBe(3);
  });

  test("the same Idempotency-Key through both instances writes once; the second answers the first's result as a replay", async () => {
    const { storages, writers } = await instances(2);
    await writers[0]!.execute(create("IDEM"), meta("c"));
    const first = await writers[0]!.execute(update("IDEM", { amount: 5 }), meta("a"), claim("k-1"));
    expect(first).toMatchObject({ ok: true, version: 2, appended: 1 });
    expect(await writers[1]!.execute(update("IDEM", { amount: 5 }), meta("b"), claim("k-1"))).toMatchObject({ ok: true, version: 2, replayed: true });
    // Sent to both at the same moment: the batches take turns on the head lock, the second finds the key stored.
    const both = await Promise.all([writers[0]!.execute(update("IDEM", { amount: 6 }), meta("x"), claim("k-2")), writers[1]!.execute(update("IDEM", { amount: 6 }), meta("y"), claim("k-2"))]);
    expect(both.map((result) => result.ok)).toEqual([true, true]);
    expect(both.filter((result) => result.replayed === true)).toHaveLength(1);
    expect(both.map((result) => result.version)).toEqual([3, 3]);
    const keyed = (await storages[0]!.readAll(0, 100)).map((event) => event.metadata.idempotencyKey).filter((key) => key !== undefined);
    expect(keyed.sort()).toEqual(["k-1", "k-2"]);
  });
});

describe("pruning idempotency keys from two instances at once", () => {
  test("each expired key is pruned once, by one of them; neither waits for nor deadlocks with the other", async () => {
    const { storages } = await instances(2);
    const clock = { ms: Date.UTC(2026, 0, 1) };
    const old = new GroupCommit(storages[0]!, { now: () => new Date(clock.ms) });
    await old.execute(create("PRUNE"), meta("c"));
    for (let index = 0; index < 40; index++) await old.execute(update("PRUNE", { amount: index + 1 }), meta(`u${index}`), claim(`old-${index}`));
    const cutoff = new Date(clock.ms + 1).toISOString();
    const pruneAll = async (storage: PostgresStorage) => {
      let total = 0;
      for (;;) {
        const pruned = await storage.pruneIdempotencyKeys(cutoff, 3);
        total += pruned;
        if (pruned === 0) return total;
      }
    };
    const totals = await Promise.all(storages.map(pruneAll));
    expect(totals[0]! + totals[1]!).toBe(40);
    // Forgotten: the same key is now free for another body.
    expect(await old.execute(update("PRUNE", { amount: 99 }), meta("again"), claim("old-0", "another body"))).toMatchObject({ ok: true, appended: 1 });
  });
});

describe("schema migrations at start", () => {
  test("three instances starting together on an empty database: all open, the schema is made once", async () => {
    const db = await databases.create();
    const storages = await Promise.all(Array.from({ length: 3 }, () => openPostgresStorage(db.url)));
    opened.push(...storages);
    const admin = new SQL({ url: db.url, database: db.name, max: 1 });
    try {
      expect((await admin`SELECT version FROM schema_version`).map((row: { version: number }) => row.version)).toEqual([POSTGRES_SCHEMA_VERSION]);
      expect((await admin`SELECT position FROM event_head`).map((row: { position: string }) => row.position)).toEqual(["0"]);
    } finally {
      await admin.close();
    }
    for (const storage of storages) expect(await storage.readiness()).toBeNull();
    expect(await new GroupCommit(storages[2]!).execute(create("AFTER"), meta("r"))).toMatchObject({ ok: true, id: 1 });
  });
});
