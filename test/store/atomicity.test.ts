import { afterEach, describe, expect, test } from "bun:test";
import { OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED } from "../../events/opportunity-events";
import { appendEvents, createBody, createCommand, eventCount, eventRows, META, opportunityRows, Resources, SteppingClock } from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

const created = (code: string, id: number) => ({
  type: OPPORTUNITY_CREATED,
  data: { id, opportunityCode: code, endCustomerName: "C", opportunityName: "N", status: "active" },
});

describe("a write transaction is all or nothing", () => {
  test("a write that fails after the event and its projection row were written leaves neither", async () => {
    const clock = new SteppingClock();
    const { db, storage, writer } = resources.service({ now: clock.now });
    await writer.execute(createCommand(createBody("KEEP")), META);
    const eventsBefore = eventRows(db);
    const rowsBefore = opportunityRows(db);

    const apply = storage.opportunities.applyChange.bind(storage.opportunities);
    storage.opportunities.applyChange = (change) => {
      apply(change);
      // The event (at position 2) and the projection row exist inside the transaction...
      expect(db.query("SELECT position FROM events WHERE stream_id = 'LOST'").get()).toEqual({ position: 2 });
      expect(db.query("SELECT code FROM opportunities WHERE code = 'LOST'").get()).toEqual({ code: "LOST" });
      throw new Error("write failed after append");
    };
    expect(() => appendEvents(storage, [{ streamId: "LOST", expectedVersion: 0, events: [created("LOST", 2)] }], META, clock.now())).toThrow(
      "write failed after append",
    );
    storage.opportunities.applyChange = apply;

    // ...and are gone after the rollback.
    expect(db.inTransaction).toBe(false);
    expect(eventRows(db)).toEqual(eventsBefore);
    expect(opportunityRows(db)).toEqual(rowsBefore);
    expect(storage.events.head()).toEqual({ position: 1, hash: eventsBefore[0]!.hash });

    // The next append continues the chain at position 2: no gap, linked to the surviving head.
    const [next] = appendEvents(storage, [{ streamId: "NEXT", expectedVersion: 0, events: [created("NEXT", 2)] }], META, clock.now());
    expect(next).toMatchObject({ position: 2, prevHash: eventsBefore[0]!.hash });
  });

  test("a write that fails after an update rolls the projection back to the old values", async () => {
    const { db, storage, writer, opportunities } = resources.service({ now: new SteppingClock().now });
    await writer.execute(createCommand(createBody("U", { amount: 7 })), META);
    const apply = storage.opportunities.applyChange.bind(storage.opportunities);
    storage.opportunities.applyChange = (change) => {
      apply(change);
      expect(opportunities.find("U")?.amount).toBe(8);
      throw new Error("boom");
    };
    const update = { type: OPPORTUNITY_UPDATED, data: { changes: { amount: 8 }, previous: { amount: 7 } } };
    expect(() => appendEvents(storage, [{ streamId: "U", expectedVersion: 1, events: [update] }])).toThrow("boom");
    expect(opportunities.find("U")).toMatchObject({ amount: 7, version: 1 });
    expect(eventCount(db)).toBe(1);
  });

  test("a projection write that fails rolls back the batch's events and the projection rows before it", () => {
    const { db, storage } = resources.bareStore();
    appendEvents(storage, [{ streamId: "GOOD", expectedVersion: 0, events: [created("GOOD", 1)] }]);
    const eventsBefore = eventRows(db);
    const rowsBefore = opportunityRows(db);
    db.run("CREATE TEMP TRIGGER bad_row BEFORE INSERT ON opportunities WHEN NEW.code = 'BAD' BEGIN SELECT RAISE(ABORT, 'projection failed'); END");

    const batch = [
      { streamId: "FIRST", expectedVersion: 0, events: [created("FIRST", 2)] },
      { streamId: "BAD", expectedVersion: 0, events: [created("BAD", 3)] },
    ];
    expect(() => appendEvents(storage, batch)).toThrow("projection failed");
    expect(eventRows(db)).toEqual(eventsBefore);
    expect(opportunityRows(db)).toEqual(rowsBefore);
    expect(storage.opportunities.find("FIRST")).toBeNull();
    expect(storage.opportunities.find("BAD")).toBeNull();
    expect(storage.opportunities.count()).toBe(1);
  });

  test("an unexpected error in executeMany rolls back the whole batch", async () => {
    const { db, writer } = resources.service({ now: new SteppingClock().now });
    const batch = [
      { command: createCommand(createBody("BATCH-1")), metadata: META },
      // An amount no JSON can hold: canonical JSON throws while appending the second command.
      {
        command: { type: "CreateOpportunity" as const, opportunityCode: "BATCH-2", endCustomerName: "C", fields: { amount: Number.POSITIVE_INFINITY } },
        metadata: META,
      },
    ];
    await expect(writer.executeMany(batch)).rejects.toThrow("canonical JSON cannot hold Infinity");
    expect(eventCount(db)).toBe(0);
    expect(opportunityRows(db)).toEqual([]);
  });
});
