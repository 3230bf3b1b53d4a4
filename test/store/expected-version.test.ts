import { afterEach, describe, expect, test } from "bun:test";
import { OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED } from "../../events/opportunity-events";
import { ConcurrencyError } from "../../events/stored-event";
import { eventCount, eventRows, META, opportunityRows, Resources } from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

const created = (code: string, id: number) => ({
  type: OPPORTUNITY_CREATED,
  data: { id, opportunityCode: code, endCustomerName: "C", opportunityName: "N" },
});
const renamed = (from: string, to: string) => ({
  type: OPPORTUNITY_UPDATED,
  data: { changes: { opportunityName: to }, previous: { opportunityName: from } },
});

describe("expected version", () => {
  test("a stale expected version throws ConcurrencyError and writes nothing", () => {
    const { db, store } = resources.service();
    store.write((tx) => tx.append("S", 0, [created("S", 1)], META));
    store.write((tx) => tx.append("S", 1, [renamed("N", "N2")], META));
    const before = eventRows(db);
    const projectionBefore = opportunityRows(db);

    let thrown: unknown;
    try {
      store.write((tx) => tx.append("S", 1, [renamed("N2", "N3")], META));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConcurrencyError);
    expect(thrown).toMatchObject({ streamId: "S", expectedVersion: 1, actualVersion: 2 });
    expect(eventRows(db)).toEqual(before);
    expect(opportunityRows(db)).toEqual(projectionBefore);
    expect(opportunityRows(db)[0]).toMatchObject({ opportunity_name: "N2", version: 2n });
  });

  test("an expected version ahead of the stream, or 0 for an existing stream, is also refused", () => {
    const { db, store } = resources.bareStore();
    store.write((tx) => tx.append("S", 0, [created("S", 1)], META));
    expect(() => store.write((tx) => tx.append("S", 5, [renamed("N", "X")], META))).toThrow(ConcurrencyError);
    expect(() => store.write((tx) => tx.append("S", 0, [created("S", 1)], META))).toThrow("stream S is at version 1, expected 0");
    expect(() => store.write((tx) => tx.append("NEW", 1, [created("NEW", 2)], META))).toThrow("stream NEW is at version 0, expected 1");
    expect(eventCount(db)).toBe(1);
  });

  test("a refused append in the middle of a transaction rolls back the earlier appends of it", () => {
    const { db, store } = resources.bareStore();
    expect(() =>
      store.write((tx) => {
        tx.append("A", 0, [created("A", 1)], META);
        tx.append("B", 3, [created("B", 2)], META);
      }),
    ).toThrow(ConcurrencyError);
    expect(eventCount(db)).toBe(0);
    // The next append still starts at position 1: the refused transaction left no gap.
    const [stored] = store.write((tx) => tx.append("B", 0, [created("B", 2)], META));
    expect(stored).toMatchObject({ position: 1, version: 1, streamId: "B" });
  });

  test("UNIQUE(stream_id, version) holds even against a raw INSERT", () => {
    const { db, store } = resources.bareStore();
    store.write((tx) => tx.append("S", 0, [created("S", 1)], META));
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
