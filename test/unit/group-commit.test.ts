/**
 * GroupCommit's queue against a store stand-in whose commits end when the test says: no database, no I/O.
 * How many batches are handed to the store at once (batchesInFlight).
 */
import { describe, expect, test } from "bun:test";
import type { BatchCommits, CommittedBatch, FormedBatch } from "../../src/storage/port";
import { StorageUnavailableError } from "../../src/storage-errors";
import type { BatchPlan, BatchSnapshot, SnapshotNeeds } from "../../src/write/batch-plan";
import { GroupCommit } from "../../src/write/group-commit";

const META = { actor: "oms", requestId: "req-unit" };
const create = (code: string) => ({ type: "CreateOpportunity" as const, opportunityCode: code, endCustomerName: "客户", fields: { opportunityName: code } });
/** A few turns of the loop: enough for a settled batch's queue to hand over the next. */
const nextTurn = async () => {
  for (let turn = 0; turn < 3; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** A store whose every commit waits until `finish()`; it records the codes of each batch it was handed. */
class HeldStore implements BatchCommits {
  readonly batches: string[][] = [];
  private readonly held: (() => void)[] = [];

  commitBatch(needs: SnapshotNeeds, decide: (snapshot: BatchSnapshot) => BatchPlan): Promise<CommittedBatch> {
    this.batches.push(needs.codes);
    const snapshot: BatchSnapshot = { head: null, maxId: this.batches.length * 100, states: new Map(needs.codes.map((code) => [code, null])), keys: new Map(), keysHeld: new Map() };
    const plan = decide(snapshot);
    return new Promise((resolve) => this.held.push(() => resolve({ plan, seconds: 0 })));
  }

  async pruneIdempotencyKeys(): Promise<number> {
    return 0;
  }

  /** Ends the oldest commit still running. */
  finish(): void {
    this.held.shift()?.();
  }
}

describe("batches in flight", () => {
  test("by default one batch at a time: what arrives while it commits forms the next", async () => {
    const store = new HeldStore();
    const queue = new GroupCommit(store);
    const first = queue.execute(create("A"), META);
    await nextTurn();
    const rest = [queue.execute(create("B"), META), queue.execute(create("C"), META)];
    await nextTurn();
    expect(store.batches).toEqual([["A"]]);
    store.finish();
    await first;
    await nextTurn();
    expect(store.batches).toEqual([["A"], ["B", "C"]]);
    store.finish();
    expect((await Promise.all(rest)).map((result) => result.ok)).toEqual([true, true]);
  });

  test("with two, the next batch is handed over while the first commits, and a third waits for one of them", async () => {
    const store = new HeldStore();
    const queue = new GroupCommit(store, { batchesInFlight: 2 });
    const answers = [queue.execute(create("A"), META)];
    await nextTurn();
    answers.push(queue.execute(create("B"), META));
    await nextTurn();
    expect(store.batches).toEqual([["A"], ["B"]]);
    answers.push(queue.execute(create("C"), META), queue.execute(create("D"), META));
    await nextTurn();
    expect(store.batches).toEqual([["A"], ["B"]]);
    expect(queue.pending).toBe(2);
    store.finish();
    await answers[0];
    await nextTurn();
    expect(store.batches).toEqual([["A"], ["B"], ["C", "D"]]);
    store.finish();
    store.finish();
    expect((await Promise.all(answers)).map((result) => result.ok)).toEqual([true, true, true, true]);
  });
});

/** A shared database's store: the lock is granted when the test says, and only then is the batch formed. */
class LockFirstStore extends HeldStore {
  private readonly waiting: (() => void)[] = [];
  formed = 0;

  async commitBatchWhenLocked(form: () => FormedBatch | null): Promise<CommittedBatch | null> {
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    const formed = form();
    this.formed += 1;
    if (formed === null) return null;
    return this.commitBatch(formed.needs, formed.decide);
  }

  /** Grants the lock to the oldest waiting commit. */
  grant(): void {
    this.waiting.shift()?.();
  }
}

describe("on a database several instances share (commitBatchWhenLocked)", () => {
  test("requests that arrive while the instance waits for the lock join the batch, instead of waiting a turn", async () => {
    const store = new LockFirstStore();
    const queue = new GroupCommit(store);
    const early = queue.execute(create("A"), META);
    await nextTurn();
    // Waiting for the lock (another instance holds it): these come in meanwhile.
    const late = [queue.execute(create("B"), META), queue.execute(create("C"), META)];
    await nextTurn();
    expect(store.batches).toEqual([]);
    store.grant();
    await nextTurn();
    expect(store.batches).toEqual([["A", "B", "C"]]);
    store.finish();
    expect((await Promise.all([early, ...late])).map((result) => result.ok)).toEqual([true, true, true]);
    expect(store.formed).toBe(1);
  });

  test("a lock that cannot be had fails the requests it would have taken, as a storage failure", async () => {
    const store = new LockFirstStore();
    store.commitBatchWhenLocked = async () => {
      throw new StorageUnavailableError("08006", new Error("connection lost"));
    };
    const queue = new GroupCommit(store);
    const answers = [queue.execute(create("A"), META), queue.execute(create("B"), META)].map((answer) => answer.then(() => "ok", (error: unknown) => (error as Error).name));
    expect(await Promise.all(answers)).toEqual(["StorageUnavailableError", "StorageUnavailableError"]);
    expect(queue.pending).toBe(0);
  });
});
