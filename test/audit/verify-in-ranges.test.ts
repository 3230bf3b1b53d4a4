/**
 * verify and rebuild shared out among threads over ranges of streams (range-threads.ts): forced here on small
 * stores. A sound store's shared walk gives what the walk in position order gives; every kind of damage a range
 * cannot see alone (a link between positions, a gap, an id created twice in two ranges, a stream's versions
 * out of position order, the expected head) makes it step aside for the walk in order. SQLite only.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Database } from "bun:sqlite";
import { auditEventsInRanges } from "../../src/audit/verify-in-ranges";
import { StoreAuditor, verifyStore } from "../../src/audit/verify-store";
import { rebuildOpportunities } from "../../src/storage/sqlite/projection-rebuild";
import { RangeThread, type RangeThreadOptions } from "../../src/storage/sqlite/range-threads";
import { readHead } from "../../src/storage/sqlite/event-reads";
import { ALL_STREAMS, foldStreamRange, splitStreams, type RangeFold } from "../../src/storage/sqlite/stream-range-fold";
import { OpportunitiesTable } from "../../src/storage/sqlite/opportunity-rows";
import { auditorHash, createBody, createCommand, META, Resources, SteppingClock, updateCommand } from "../store/store-fixture";
import { openTracked, rawRows, rechain, replaceAllEvents, tamper } from "./audit-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

const SHARED: RangeThreadOptions = { threads: 3, minEventsPerThread: 1 };
const CODES = ["OPP-A", "OPP-B", "OPP-C", "OPP-D", "OPP-E", "OPP-F"];

/** Six opportunities, their updates interleaved across streams: 6 creations and 12 updates. */
async function store(): Promise<string> {
  const service = resources.service({ now: new SteppingClock().now });
  for (const code of CODES) await service.writer.execute(createCommand(createBody(code, { amount: 100 })), META);
  for (let round = 1; round <= 2; round++) {
    for (const code of CODES) await service.writer.execute(updateCommand({ opportunityCode: code, amount: 100 + round * 10 }), META);
  }
  service.close();
  return service.path;
}

function inOrder(db: Database): StoreAuditor {
  const auditor = new StoreAuditor();
  for (const row of rawRows(db)) expect(auditor.checkRow(row)).toBeNull();
  return auditor;
}

function shared(db: Database, expectHead?: { position: number; hash: string }) {
  let alongside = 0;
  const result = db.transaction(() => auditEventsInRanges(db, expectHead, SHARED, () => (alongside += 1)))();
  return { ...result, alongside };
}

describe("splitting the streams", () => {
  test("ranges cover every stream once, never split one, and hold about as many events each", async () => {
    const db = openTracked(resources, await store());
    const ranges = splitStreams(db, 3, readHead(db)!.position);
    expect(ranges).toEqual([
      { from: null, to: "OPP-C" },
      { from: "OPP-C", to: "OPP-E" },
      { from: "OPP-E", to: null },
    ]);
    const counts = ranges.map((range) => foldStreamRange(db, range, 18).events);
    expect(counts).toEqual([6, 6, 6]);
  });

  test("one long stream: cut right after it rather than not at all", async () => {
    const service = resources.service({ now: new SteppingClock().now });
    await service.writer.execute(createCommand(createBody("OPP-A")), META);
    for (let amount = 1; amount <= 8; amount++) await service.writer.execute(updateCommand({ opportunityCode: "OPP-A", amount }), META);
    await service.writer.execute(createCommand(createBody("OPP-B")), META);
    service.close();
    const db = openTracked(resources, service.path);
    expect(splitStreams(db, 2, 10)).toEqual([
      { from: null, to: "OPP-B" },
      { from: "OPP-B", to: null },
    ]);
    expect(splitStreams(db, 4, 10)).toHaveLength(2);
  });

  test("more parts than streams: one range per stream, none empty", async () => {
    const db = openTracked(resources, await store());
    const ranges = splitStreams(db, 12, readHead(db)!.position);
    expect(ranges.length).toBe(CODES.length);
    expect(ranges.map((range) => foldStreamRange(db, range, 18).events)).toEqual([3, 3, 3, 3, 3, 3]);
    expect(new Set(ranges.map((range) => range.from)).size).toBe(ranges.length);
    expect(ranges.reduce((sum, range) => sum + foldStreamRange(db, range, 18).events, 0)).toBe(18);
  });
});

describe("a range folded by another thread", () => {
  test("gives what folding it here gives, and reads nothing past the position it is given", async () => {
    const db = openTracked(resources, await store());
    const [, second] = splitStreams(db, 3, 18);
    const thread = new RangeThread<RangeFold>("fold", db.filename, second!, 12);
    try {
      const fold = thread.result();
      expect(fold).toEqual(foldStreamRange(db, second!, 12));
      // Through position 12: creations and the first round of updates only.
      expect(fold!.events).toBe(4);
      expect(fold!.states.map((state) => state.amount)).toEqual([110, 110]);
    } finally {
      thread.stop();
    }
  });
});

describe("rebuild shared out", () => {
  test("writes the same table as a rebuild on this thread alone", async () => {
    const path = await store();
    const db = openTracked(resources, path);
    expect(rebuildOpportunities(db, { threads: 1 })).toEqual({ opportunities: 6, events: 18, threads: 1 });
    const alone = new OpportunitiesTable(db).list();
    expect(rebuildOpportunities(db, SHARED)).toEqual({ opportunities: 6, events: 18, threads: 3 });
    expect(new OpportunitiesTable(db).list()).toEqual(alone);
    expect(alone.map((row) => row.amount)).toEqual([120, 120, 120, 120, 120, 120]);
  });
});

describe("verify's walk shared out", () => {
  test("a sound store: the same states, count and head as the walk in order, the database checks run alongside", async () => {
    const db = openTracked(resources, await store());
    const walked = inOrder(db);
    const { audit, alongsideRan, alongside } = shared(db, walked.head!);
    expect(alongsideRan).toBe(true);
    expect(alongside).toBe(1);
    expect(audit).not.toBeNull();
    expect(audit!.checked).toBe(18);
    expect(audit!.head).toEqual(walked.head);
    expect(new Map(audit!.states)).toEqual(walked.states);
  });

  test("too few events for the threads: not attempted, and the database checks are left to the caller", async () => {
    const db = openTracked(resources, await store());
    const result = db.transaction(() => auditEventsInRanges(db, undefined, { threads: 3, minEventsPerThread: 10 }, () => {}))();
    expect(result).toEqual({ audit: null, alongsideRan: false });
  });

  const damage: [string, (db: Database) => void][] = [
    ["one event's prev_hash altered and its own hash recomputed (only the link shows)", (db) => {
      const row = rawRows(db)[9]!;
      const altered = { ...row, prev_hash: "f".repeat(64) };
      db.run("UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?", [altered.prev_hash, auditorHash(altered), row.position]);
    }],
    ["an event removed and the chain rehashed (a gap)", (db) => {
      const rows = rawRows(db).filter((row) => row.position !== 17);
      replaceAllEvents(db, rechain(rows));
    }],
    ["the same opportunity id created in two ranges, rechained", (db) => {
      const rows = rawRows(db).map((row) => (row.stream_id === "OPP-F" && row.version === 1 ? { ...row, data: row.data.replace('"id":6', '"id":1') } : row));
      replaceAllEvents(db, rechain(rows));
    }],
    ["two events of one stream swapped in position, versions kept, rechained", (db) => {
      const rows = rawRows(db);
      const [a, b] = [rows[6]!, rows[12]!];
      rows[6] = { ...b, position: a.position };
      rows[12] = { ...a, position: b.position };
      replaceAllEvents(db, rechain(rows));
    }],
    ["an event's data altered (its hash no longer holds)", (db) => {
      db.run("UPDATE events SET data = replace(data, '110', '111') WHERE position = 8");
    }],
  ];

  for (const [name, work] of damage) {
    test(`${name}: the shared walk steps aside, and verify reports what the walk in order finds`, async () => {
      const path = await store();
      tamper(path, work);
      const db = openTracked(resources, path);
      expect(shared(db).audit).toBeNull();
      // The report's equality with the walk in order, over ranges walked here (the threads' own answer is above).
      const report = verifyStore(db, {}, { ...SHARED, inline: true });
      expect(report.ok).toBe(false);
      expect(report).toEqual(verifyStore(db, {}, { threads: 1 }));
    });
  }

  test("an expected head the store no longer has: the shared walk steps aside", async () => {
    const db = openTracked(resources, await store());
    const head = inOrder(db).head!;
    expect(shared(db, { position: head.position, hash: "0".repeat(64) }).audit).toBeNull();
    expect(shared(db, { position: head.position + 1, hash: head.hash }).audit).toBeNull();
    expect(shared(db, head).audit).not.toBeNull();
  });
});

test("the whole store folded on this thread is the same as through its last position", async () => {
  const db = openTracked(resources, await store());
  expect(foldStreamRange(db, ALL_STREAMS, readHead(db)!.position).events).toBe(18);
});
