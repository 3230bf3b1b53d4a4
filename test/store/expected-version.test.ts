import { afterEach, describe, expect, test } from "bun:test";
import { OPPORTUNITY_CREATED } from "../../events/opportunity-events";
import { KeyRetention } from "../../src/idempotency";
import { planBatch, type BatchPlan } from "../../src/write/batch-plan";
import {
  appendEvents,
  ConcurrencyError,
  createBody,
  createCommand,
  eventCount,
  eventRows,
  META,
  opportunityRows,
  Resources,
  updateCommand,
} from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

const created = (code: string, id: number) => ({
  type: OPPORTUNITY_CREATED,
  data: { id, opportunityCode: code, endCustomerName: "C", opportunityName: "N" },
});
describe("expected version", () => {
  test("a plan decided on a stale snapshot cannot be written: the whole batch is refused", async () => {
    const { db, storage, writer } = resources.service();
    await writer.execute(createCommand(createBody("S", { opportunityName: "N" })), META);
    // Decided while S was at version 1, and committed: S is at version 2.
    const needs = { codes: ["S"], claims: [], clients: [], keysCutoff: new Date().toISOString() };
    const rename = (name: string) => [{ command: updateCommand({ opportunityCode: "S", opportunityName: name }), metadata: META }];
    const retention = new KeyRetention();
    let stale: BatchPlan | undefined;
    storage.commitBatchNow(needs, (snapshot) => {
      stale = planBatch(rename("N3"), snapshot, { now: new Date(), retention });
      return planBatch(rename("N2"), snapshot, { now: new Date(), retention });
    });
    const before = eventRows(db);
    const projectionBefore = opportunityRows(db);

    // The stale plan's event takes a position and a version that are no longer free.
    expect(() => storage.commitBatchNow(needs, () => stale!)).toThrow("UNIQUE constraint failed");
    expect(db.inTransaction).toBe(false);
    expect(eventRows(db)).toEqual(before);
    expect(opportunityRows(db)).toEqual(projectionBefore);
    expect(opportunityRows(db)[0]).toMatchObject({ opportunity_name: "N2", version: 2n });
  });

  test("If-Match behind or ahead of the stream, and a create of an existing code, are refused and write nothing", async () => {
    const { db, writer } = resources.service();
    await writer.execute(createCommand(createBody("S")), META);
    await writer.execute(updateCommand({ opportunityCode: "S", opportunityName: "N2" }), META);
    const before = eventRows(db);
    for (const expectedVersion of [1, 5]) {
      const command = { ...updateCommand({ opportunityCode: "S", opportunityName: "X" }), expectedVersion };
      expect(await writer.execute(command, META)).toMatchObject({ ok: false });
    }
    expect(await writer.execute(createCommand(createBody("S")), META)).toMatchObject({ ok: false });
    expect(eventRows(db)).toEqual(before);
  });

  test("a stream not at its expected version in the middle of a transaction rolls back the earlier appends of it", () => {
    const { db, storage } = resources.bareStore();
    let thrown: unknown;
    try {
      appendEvents(storage, [
        { streamId: "A", expectedVersion: 0, events: [created("A", 1)] },
        { streamId: "B", expectedVersion: 3, events: [created("B", 2)] },
      ]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConcurrencyError);
    expect(thrown).toMatchObject({ streamId: "B", expectedVersion: 3, actualVersion: 0 });
    expect(eventCount(db)).toBe(0);
    expect(opportunityRows(db)).toEqual([]);
    // The next append still starts at position 1: the refused transaction left no gap.
    const [stored] = appendEvents(storage, [{ streamId: "B", expectedVersion: 0, events: [created("B", 2)] }]);
    expect(stored).toMatchObject({ position: 1, version: 1, streamId: "B" });
  });

  test("UNIQUE(stream_id, version) holds even against a raw INSERT", () => {
    const { db, storage } = resources.bareStore();
    appendEvents(storage, [{ streamId: "S", expectedVersion: 0, events: [created("S", 1)] }]);
    const first = eventRows(db)[0]!;
    const insert = db.prepare(
      `INSERT INTO events (position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at, prev_hash, hash)
       VALUES ($position, $event_id, $stream_id, $version, $type, $schema_version, $data, $metadata, $recorded_at, $prev_hash, $hash)`,
    );
    expect(() => insert.run({ ...first, position: 2, event_id: "01JZZZZZZZZZZZZZZZZZZZZZZZ" })).toThrow(
      "UNIQUE constraint failed: events.stream_id, events.version",
    );
    expect(() => insert.run({ ...first, position: 2, version: 2 })).toThrow("UNIQUE constraint failed: events.event_id");
    expect(eventRows(db)).toEqual([first]);
  });
});
