import { afterEach, describe, expect, test } from "bun:test";
import { OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED } from "../../events/opportunity-events";
import { appendEvents, eventRows, Resources, SteppingClock } from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

const created = (code: string, id: number) => ({ type: OPPORTUNITY_CREATED, data: { id, opportunityCode: code, endCustomerName: "C" } });
const amount = (to: number | bigint) => ({ type: OPPORTUNITY_UPDATED, data: { changes: { amount: to }, previous: {} } });

/** A1 B1 A2 C1 B2 A3, one transaction each, metadata naming the step. */
function sixEvents() {
  const clock = new SteppingClock();
  const { storage, db } = resources.bareStore();
  const steps: [string, number, { type: string; data: unknown }][] = [
    ["A", 0, created("A", 1)],
    ["B", 0, created("B", 2)],
    ["A", 1, amount(10)],
    ["C", 0, created("C", 3)],
    ["B", 1, amount(9223372036854775807n)],
    ["A", 2, amount(30)],
  ];
  steps.forEach(([streamId, expectedVersion, event], index) =>
    appendEvents(storage, [{ streamId, expectedVersion, events: [event] }], { actor: "t", requestId: `step-${index + 1}` }, clock.now()),
  );
  return { store: storage.events, db };
}

describe("reading the event store", () => {
  test("readStream returns one stream in version order with parsed data and metadata", () => {
    const { store } = sixEvents();
    const a = store.readStream("A");
    expect(a.map((e) => [e.position, e.version, e.streamId, e.type])).toEqual([
      [1, 1, "A", OPPORTUNITY_CREATED],
      [3, 2, "A", OPPORTUNITY_UPDATED],
      [6, 3, "A", OPPORTUNITY_UPDATED],
    ]);
    expect(a[0]!.data).toEqual({ id: 1, opportunityCode: "A", endCustomerName: "C" });
    expect(a[2]!.data).toEqual({ changes: { amount: 30 }, previous: {} });
    expect(a.map((e) => e.metadata)).toEqual([
      { actor: "t", requestId: "step-1" },
      { actor: "t", requestId: "step-3" },
      { actor: "t", requestId: "step-6" },
    ]);
    expect(store.readStream("B").map((e) => e.position)).toEqual([2, 5]);
    expect(store.readStream("B")[1]!.data).toEqual({ changes: { amount: 9223372036854775807n }, previous: {} });
    expect(store.readStream("nope")).toEqual([]);
  });

  test("readAll(after, limit) pages through every event in global order", () => {
    const { store, db } = sixEvents();
    expect(store.readAll(0, 2).map((e) => e.position)).toEqual([1, 2]);
    expect(store.readAll(2, 2).map((e) => e.position)).toEqual([3, 4]);
    expect(store.readAll(4, 2).map((e) => e.position)).toEqual([5, 6]);
    expect(store.readAll(6, 2)).toEqual([]);
    expect(store.readAll(3, 100).map((e) => e.streamId)).toEqual(["C", "B", "A"]);

    // Paging by the last position seen visits every event exactly once.
    const seen: number[] = [];
    for (let page = store.readAll(0, 4); page.length > 0; page = store.readAll(page.at(-1)!.position, 4)) seen.push(...page.map((e) => e.position));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);

    const all = store.readAll();
    const rows = eventRows(db);
    expect(all.map((e) => [e.eventId, e.hash, e.prevHash, e.recordedAt])).toEqual(rows.map((r) => [r.event_id, r.hash, r.prev_hash, r.recorded_at]));
  });

  test("head() is the last position and its hash, null on an empty store", () => {
    const empty = resources.bareStore();
    expect(empty.storage.events.head()).toBeNull();
    expect(empty.storage.events.readAll()).toEqual([]);
    const { store, db } = sixEvents();
    expect(store.head()).toEqual({ position: 6, hash: eventRows(db)[5]!.hash });
  });

  test("the events returned by append equal the events read back", () => {
    const { storage } = resources.bareStore();
    const store = storage.events;
    const appended = appendEvents(storage, [{ streamId: "M", expectedVersion: 0, events: [created("M", 1), amount(2), amount(3)] }], { actor: "t", requestId: "multi" }, new SteppingClock().now());
    expect(appended.map((e) => [e.position, e.version])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(store.readStream("M")).toEqual(appended);
  });
});
