/**
 * The storage contract: what every backend of the Storage port (src/storage/port.ts) must do, written once and
 * run against each (test/storage/sqlite-storage.test.ts, test/storage/postgres-storage.test.ts). It drives the
 * port through the group-commit queue, as the service does, and directly where a test needs a batch the queue
 * would never build (a failing `decide`, a plan whose write fails).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { canonicalJson } from "../../events/canonical-json";
import { eventHash, GENESIS_HASH } from "../../events/hash-chain";
import type { EventMetadata, FieldValues } from "../../events/opportunity-events";
import type { EventRow } from "../../events/stored-event";
import { ChainWalker } from "../../events/verify-chain";
import { foldStream } from "../../projections/opportunity-state";
import type { CreateOpportunity, UpdateOpportunity } from "../../src/commands";
import { KeyRetention, type IdempotencyClaim } from "../../src/idempotency";
import type { Storage } from "../../src/storage/port";
import { needsOf, planBatch, type WriteRequest, type WriteResult } from "../../src/write/batch-plan";
import { GroupCommit, type GroupCommitOptions } from "../../src/write/group-commit";

export interface OpenedStorage {
  storage: Storage;
  dispose(): Promise<void>;
}

const META: EventMetadata = { actor: "oms", requestId: "req-1" };
const HOUR = 3_600_000;

export const create = (code: string, fields: FieldValues = {}): CreateOpportunity => ({
  type: "CreateOpportunity",
  opportunityCode: code,
  endCustomerName: "客户",
  fields: { opportunityName: `商机 ${code}`, ...fields },
});
export const update = (code: string, fields: FieldValues, expectedVersion?: number): UpdateOpportunity => ({
  type: "UpdateOpportunity",
  opportunityCode: code,
  fields,
  ...(expectedVersion === undefined ? {} : { expectedVersion }),
});
export const claim = (key: string, fingerprint = `fp-${key}`, client = "oms"): IdempotencyClaim => ({ client, key, fingerprint });

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public ms = Date.UTC(2026, 4, 1, 2, 3, 4, 567)) {}
  readonly now = () => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** Every stored row, in position order. */
export async function allRows(storage: Storage): Promise<EventRow[]> {
  const rows: EventRow[] = [];
  for (;;) {
    const page = await storage.readRowsAfter(rows.at(-1)?.position ?? 0, 500);
    rows.push(...page);
    if (page.length < 500) return rows;
  }
}

/**
 * Checks the chain as an auditor does: positions 1..N without a gap, each prev_hash the hash before it, each hash
 * recomputed from the row's stored columns; the head the store reports is the chain's last link.
 */
export async function expectSoundChain(storage: Storage): Promise<EventRow[]> {
  const rows = await allRows(storage);
  const walker = new ChainWalker();
  const problems = rows.map((row) => walker.check(row)).filter((problem) => problem !== null);
  expect(problems).toEqual([]);
  for (const row of rows) expect(row.hash).toBe(eventHash(row.prev_hash, row));
  expect(rows.map((row) => row.position)).toEqual(rows.map((_, index) => index + 1));
  expect(await storage.head()).toEqual(walker.head);
  return rows;
}

/** Each stream's versions are 1..n, and its projection row is the fold of its events. */
export async function expectStreamsConsistent(storage: Storage, rows: readonly EventRow[]): Promise<void> {
  const byStream = Map.groupBy(rows, (row) => row.stream_id);
  for (const [streamId, streamRows] of byStream) {
    expect(streamRows.map((row) => row.version)).toEqual(streamRows.map((_, index) => index + 1));
    expect(await storage.streamVersion(streamId)).toBe(streamRows.length);
    const inputs = await storage.readFoldInputs(streamId, 0, streamRows.length, 10_000);
    expect(await storage.findOpportunity(streamId)).toEqual(foldStream(inputs));
  }
  expect(await storage.countOpportunities()).toBe(byStream.size);
}

const ok = (result: WriteResult) => {
  if (!result.ok) throw new Error(`expected success, got ${result.reason}: ${result.message}`);
  return result;
};

export function describeStorageContract(name: string, open: () => Promise<OpenedStorage>): void {
  describe(`${name}: the storage contract`, () => {
    const opened: OpenedStorage[] = [];
    const fresh = async (options: GroupCommitOptions = {}) => {
      const one = await open();
      opened.push(one);
      return { storage: one.storage, writer: new GroupCommit(one.storage, options) };
    };
    afterEach(async () => {
      for (const one of opened.splice(0)) await one.dispose();
    });

    test("an empty store: no head, no events, no opportunities, every stream at version 0, ready", async () => {
      const { storage } = await fresh();
      expect(await storage.head()).toBeNull();
      expect(await storage.readAll(0, 10)).toEqual([]);
      expect(await storage.readRowsAfter(0, 10)).toEqual([]);
      expect(await storage.streamVersion("NOPE")).toBe(0);
      expect(await storage.findOpportunity("NOPE")).toBeNull();
      expect(await storage.countOpportunities()).toBe(0);
      expect(await storage.readiness()).toBeNull();
    });

    test("creates and updates sent concurrently: one gapless hash chain, gapless streams, projection = fold of the events", async () => {
      const { storage, writer } = await fresh();
      const codes = Array.from({ length: 8 }, (_, index) => `OPP-${index}`);
      const created = await Promise.all(codes.map((code, index) => writer.execute(create(code, { amount: index + 1 }), META)));
      expect(created.map((result) => ok(result).id).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      // Some updates repeat the value before them and change nothing: they succeed and append nothing.
      const updates = await Promise.all(
        Array.from({ length: 64 }, (_, index) => writer.execute(update(codes[index % codes.length]!, { amount: 100 + (index % 5), stage: index % 2 ? "won" : "lost" }), META)),
      );
      for (const result of updates) ok(result);
      const appended = updates.reduce((sum, result) => sum + (result.appended ?? 0), 0);
      const rows = await expectSoundChain(storage);
      expect(rows).toHaveLength(codes.length + appended);
      expect(rows[0]!.prev_hash).toBe(GENESIS_HASH);
      await expectStreamsConsistent(storage, rows);
      expect(await storage.readiness()).toBeNull();
    });

    test("reads: stream pages, the feed after a position, rows = feed, fold inputs in a window, the first version recorded after a time", async () => {
      const clock = new ManualClock();
      const { storage, writer } = await fresh({ now: clock.now });
      const times: string[] = [];
      times.push(clock.now().toISOString());
      ok(await writer.execute(create("PAGE", { amount: 1 }), META));
      ok(await writer.execute(create("OTHER"), META));
      for (let amount = 2; amount <= 6; amount++) {
        clock.advance(1_000);
        times.push(clock.now().toISOString());
        ok(await writer.execute(update("PAGE", { amount }), META));
      }
      expect(await storage.streamVersion("PAGE")).toBe(6);
      expect((await storage.readStreamPage("PAGE", 2, 3)).map((event) => [event.version, (event.data as { changes: { amount: number } }).changes.amount])).toEqual([
        [3, 3],
        [4, 4],
        [5, 5],
      ]);
      expect((await storage.readStreamPage("PAGE", 6, 10)).length).toBe(0);
      const feed = await storage.readAll(1, 3);
      expect(feed.map((event) => [event.position, event.streamId, event.version])).toEqual([
        [2, "OTHER", 1],
        [3, "PAGE", 2],
        [4, "PAGE", 3],
      ]);
      const rows = await storage.readRowsAfter(1, 3);
      expect(rows.map((row) => [row.position, row.event_id, row.hash, row.recorded_at])).toEqual(feed.map((event) => [event.position, event.eventId, event.hash, event.recordedAt]));
      expect(feed[0]!.metadata).toEqual(META);
      const window = await storage.readFoldInputs("PAGE", 2, 5, 2);
      expect(window.map((input) => `${input.version} ${input.type} ${input.recordedAt}`)).toEqual([`3 OpportunityUpdated ${times[2]}`, `4 OpportunityUpdated ${times[3]}`]);
      expect(window[0]!.data).toEqual({ changes: { amount: 3 }, previous: { amount: 2 } });
      // PAGE's version 1 was recorded at times[0], its versions 2..6 at times[1..5].
      expect(await storage.firstVersionRecordedAfter("PAGE", times[2]!, 0, 6)).toBe(4);
      expect(await storage.firstVersionRecordedAfter("PAGE", times[2]!, 4, 6)).toBe(5);
      expect(await storage.firstVersionRecordedAfter("PAGE", times[2]!, 0, 3)).toBeNull();
      expect(await storage.firstVersionRecordedAfter("PAGE", times[0]!, 0, 6)).toBe(2);
    });

    test("If-Match: an update at a stale version is refused with the current version and appends nothing", async () => {
      const { storage, writer } = await fresh();
      ok(await writer.execute(create("IFM"), META));
      ok(await writer.execute(update("IFM", { amount: 5 }, 1), META));
      const head = await storage.head();
      const stale = await writer.execute(update("IFM", { amount: 6 }, 1), META);
      expect(stale).toMatchObject({ ok: false, reason: "conflict", version: 2 });
      expect(await storage.head()).toEqual(head);
      expect(await storage.findOpportunity("IFM")).toMatchObject({ amount: 5, version: 2 });
    });

    test("an update that changes nothing succeeds and leaves the head where it was", async () => {
      const { storage, writer } = await fresh();
      ok(await writer.execute(create("SAME", { amount: 7 }), META));
      const head = await storage.head();
      expect(await writer.execute(update("SAME", { amount: 7 }), META)).toMatchObject({ ok: true, version: 1, events: [] });
      expect(await storage.head()).toEqual(head);
    });

    test("Idempotency-Key: a retry replays the first answer and writes nothing; another body with the key is refused", async () => {
      const { storage, writer } = await fresh();
      ok(await writer.execute(create("IDEM"), META));
      const first = ok(await writer.execute(update("IDEM", { amount: 10 }), META, claim("k1", "body-a")));
      const head = await storage.head();
      expect(await writer.execute(update("IDEM", { amount: 10 }), META, claim("k1", "body-a"))).toMatchObject({ ok: true, version: first.version, replayed: true });
      expect(await writer.execute(update("IDEM", { amount: 11 }), META, claim("k1", "body-b"))).toMatchObject({ ok: false, reason: "idempotency_mismatch" });
      // The same key of another client is another key.
      expect(await writer.execute(update("IDEM", { amount: 12 }), META, claim("k1", "body-c", "crm"))).toMatchObject({ ok: true, version: 3 });
      expect((await storage.head())!.position).toBe(head!.position + 1);
      const keyed = (await storage.readAll(0, 10)).filter((event) => event.metadata.idempotencyKey === "k1");
      expect(keyed.map((event) => event.version)).toEqual([2, 3]);
    });

    test("the key cap refuses a new key beyond it and stores nothing; expired keys stop counting and are pruned chunk by chunk", async () => {
      const clock = new ManualClock();
      const { storage, writer } = await fresh({ now: clock.now, idempotencyTtlHours: 24, idempotencyMaxKeysPerClient: 2 });
      ok(await writer.execute(create("CAP"), META));
      ok(await writer.execute(update("CAP", { amount: 1 }), META, claim("a")));
      ok(await writer.execute(update("CAP", { amount: 2 }), META, claim("b")));
      const head = await storage.head();
      expect(await writer.execute(update("CAP", { amount: 3 }), META, claim("c"))).toMatchObject({ ok: false, reason: "idempotency_limit" });
      expect(await storage.head()).toEqual(head);
      expect(await writer.execute(update("CAP", { amount: 3 }), META, claim("c", "fp-c", "other-client"))).toMatchObject({ ok: true });
      // A day and two hours later the first keys have expired: they no longer count, though still stored.
      clock.advance(26 * HOUR);
      expect(await writer.execute(update("CAP", { amount: 4 }), META, claim("c"))).toMatchObject({ ok: true });
      expect(await writer.execute(update("CAP", { amount: 5 }), META, claim("a", "another body"))).toMatchObject({ ok: false, reason: "idempotency_mismatch" });
      const cutoff = new KeyRetention(24).cutoff(clock.now());
      expect(await storage.pruneIdempotencyKeys(cutoff, 2)).toBe(2);
      expect(await storage.pruneIdempotencyKeys(cutoff, 2)).toBe(1);
      expect(await storage.pruneIdempotencyKeys(cutoff, 2)).toBe(0);
      // Pruned: the key is free again, for any body.
      expect(await writer.execute(update("CAP", { amount: 5 }), META, claim("a", "another body"))).toMatchObject({ ok: true, appended: 1 });
    });

    test("64-bit IDs stay exact: beyond 2^53 as bigints, smaller as numbers, in the projection and in the events", async () => {
      const { storage, writer } = await fresh();
      const ids = { salesExpansionId: 9_223_372_036_854_775_807n, channelExpansionId: 9_007_199_254_740_993n, preSalesId: 42 };
      ok(await writer.execute(create("IDS", ids), META));
      expect(await storage.findOpportunity("IDS")).toMatchObject(ids);
      const [event] = await storage.readStreamPage("IDS", 0, 1);
      expect(event!.data).toMatchObject(ids);
      ok(await writer.execute(update("IDS", { preSalesId: 9_007_199_254_740_995n, salesExpansionId: 1 }), META));
      const state = await storage.findOpportunity("IDS");
      expect([state!.preSalesId, state!.salesExpansionId, state!.channelExpansionId]).toEqual([9_007_199_254_740_995n, 1, 9_007_199_254_740_993n]);
      expect(typeof state!.salesExpansionId).toBe("number");
      const [, updated] = await storage.readFoldInputs("IDS", 0, 2, 10);
      expect(updated!.data).toEqual({ changes: { preSalesId: 9_007_199_254_740_995n, salesExpansionId: 1 }, previous: { preSalesId: 42, salesExpansionId: 9_223_372_036_854_775_807n } });
    });

    test("amounts keep every bit of their double; booleans stay booleans; cleared fields read as null", async () => {
      const { storage, writer } = await fresh();
      const amounts = [0.1 + 0.2, 1234567.89, 5e-324, 9_999_999_999_999.99, 1 / 3];
      ok(await writer.execute(create("NUM", { amount: amounts[0], archived: true, pushedToOms: false, description: "有" }), META));
      expect(await storage.findOpportunity("NUM")).toMatchObject({ amount: amounts[0], archived: true, pushedToOms: false, description: "有" });
      for (const amount of amounts.slice(1)) {
        ok(await writer.execute(update("NUM", { amount, archived: false, description: null }), META));
        const state = await storage.findOpportunity("NUM");
        expect(Object.is(state!.amount, amount)).toBe(true);
        expect([state!.archived, state!.description]).toEqual([false, null]);
      }
    });

    test("odd text round trips byte for byte: U+2028/2029, astral characters, quotes, backslashes, escapes spelled out, JSON-looking text", async () => {
      const { storage, writer } = await fresh();
      const odd = ["行\u2028分隔\u2029段", "😀𠀀", '"quoted" \\ back\\slash', "\\u0000 spelled, not a NUL", "{\"a\":1}", "NULL", "  spaced  ", "tab\tand\nnewline", "\u200f\u202e bidi"];
      const code = "ODD-\u2028-é";
      const metadata: EventMetadata = { actor: "oms \u2029 ✓", requestId: "req \\ \"x\"" };
      ok(await writer.execute(create(code, { opportunityName: odd[0], description: odd.join("|"), projectLocation: odd[3] }), metadata));
      for (const [index, text] of odd.entries()) ok(await writer.execute(update(code, { operatorName: text, amount: index + 0.125 }), metadata));
      const state = await storage.findOpportunity(code);
      expect(state).toMatchObject({ opportunityCode: code, opportunityName: odd[0], description: odd.join("|"), projectLocation: odd[3], operatorName: odd.at(-1), amount: odd.length - 1 + 0.125 });
      const events = await storage.readStreamPage(code, 0, 100);
      const rows = await storage.readRowsAfter(0, 100);
      expect(events.slice(1).map((event) => (event.data as { changes: { operatorName: string } }).changes.operatorName)).toEqual(odd);
      for (const [index, row] of rows.entries()) {
        expect(row.stream_id).toBe(code);
        // The stored text is the canonical JSON the hash was computed over, unchanged by the database.
        expect(row.data).toBe(canonicalJson(events[index]!.data));
        expect(row.metadata).toBe(canonicalJson(metadata));
        expect(row.hash).toBe(eventHash(row.prev_hash, row));
      }
      expect(events[0]!.metadata).toEqual(metadata);
    });

    test("a failing decide rolls everything back: the error comes out as thrown, nothing is written", async () => {
      const { storage, writer } = await fresh();
      ok(await writer.execute(create("RB"), META));
      const head = await storage.head();
      const boom = new Error("decide failed");
      const retention = new KeyRetention();
      const requests: WriteRequest[] = [{ command: create("RB-NEW"), metadata: META, idempotency: claim("rb") }];
      const needs = needsOf(requests, new Date(), retention);
      await expect(
        storage.commitBatch(needs, (snapshot) => {
          planBatch(requests, snapshot, { now: new Date(), retention });
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await storage.head()).toEqual(head);
      expect(await storage.findOpportunity("RB-NEW")).toBeNull();
      expect(await writer.execute(create("RB-NEW"), META, claim("rb"))).toMatchObject({ ok: true, appended: 1 });
    });

    test("a plan whose write fails (a duplicate event id) leaves nothing: no events, no projection rows, no keys, the head as it was", async () => {
      const { storage, writer } = await fresh();
      ok(await writer.execute(create("DUP"), META));
      const head = await storage.head();
      const retention = new KeyRetention();
      const now = new Date();
      const requests: WriteRequest[] = [
        { command: update("DUP", { amount: 9 }), metadata: META, idempotency: claim("dup-1") },
        { command: create("DUP-NEW"), metadata: META, idempotency: claim("dup-2") },
      ];
      const failure = await storage
        .commitBatch(needsOf(requests, now, retention), (snapshot) => {
          const plan = planBatch(requests, snapshot, { now, retention });
          plan.rows[1]!.event_id = plan.rows[0]!.event_id;
          return plan;
        })
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(Error);
      expect(failure?.constructor.name).not.toBe("StorageUnavailableError");
      expect(await storage.head()).toEqual(head);
      expect(await storage.findOpportunity("DUP")).toMatchObject({ version: 1, amount: null });
      expect(await storage.findOpportunity("DUP-NEW")).toBeNull();
      expect(await storage.countOpportunities()).toBe(1);
      // The keys were not stored: the same requests are decided anew, not replayed.
      expect(await writer.execute(update("DUP", { amount: 9 }), META, claim("dup-1"))).toMatchObject({ ok: true, version: 2, appended: 1 });
      expect(await writer.execute(create("DUP-NEW"), META, claim("dup-2"))).toMatchObject({ ok: true, id: 2, appended: 1 });
      await expectStreamsConsistent(storage, await expectSoundChain(storage));
    });

    test("executeMany writes a batch in one transaction, each request against the ones before it", async () => {
      const { storage, writer } = await fresh();
      const results = await writer.executeMany([
        { command: create("BULK-1"), metadata: META },
        { command: update("BULK-1", { amount: 3 }), metadata: META },
        { command: create("BULK-1"), metadata: META },
        { command: create("BULK-2"), metadata: META },
      ]);
      expect(results.map((result) => (result.ok ? result.version : result.reason))).toEqual([1, 2, "already_exists", 1]);
      await expectStreamsConsistent(storage, await expectSoundChain(storage));
    });
  });
}
