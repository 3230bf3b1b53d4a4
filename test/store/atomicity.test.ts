import { afterEach, describe, expect, test } from "bun:test";
import { EventStore } from "../../events/event-store";
import { OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED, SCHEMA_VERSIONS } from "../../events/opportunity-events";
import { OpportunitiesTable } from "../../projections/opportunities-table";
import { createBody, createCommand, eventCount, eventRows, META, opportunityRows, Resources, SteppingClock } from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

const created = (code: string, id: number) => ({
  type: OPPORTUNITY_CREATED,
  data: { id, opportunityCode: code, endCustomerName: "C", opportunityName: "N", status: "active" },
});

describe("a write transaction is all or nothing", () => {
  test("work that throws after an append leaves neither the event nor the projection row", async () => {
    const { db, store, writer } = resources.service({ now: new SteppingClock().now });
    await writer.execute(createCommand(createBody("KEEP")), META);
    const eventsBefore = eventRows(db);
    const rowsBefore = opportunityRows(db);

    expect(() =>
      store.write((tx) => {
        const stored = tx.append("LOST", 0, [created("LOST", 2)], META);
        expect(stored[0]!.position).toBe(2);
        // The projection row exists inside the transaction...
        expect(db.query("SELECT code FROM opportunities WHERE code = 'LOST'").get()).toEqual({ code: "LOST" });
        throw new Error("work failed after append");
      }),
    ).toThrow("work failed after append");

    // ...and is gone with the event after the rollback.
    expect(db.inTransaction).toBe(false);
    expect(eventRows(db)).toEqual(eventsBefore);
    expect(opportunityRows(db)).toEqual(rowsBefore);
    expect(store.head()).toEqual({ position: 1, hash: eventsBefore[0]!.hash });

    // The next append continues the chain at position 2: no gap, linked to the surviving head.
    const [next] = store.write((tx) => tx.append("NEXT", 0, [created("NEXT", 2)], META));
    expect(next).toMatchObject({ position: 2, prevHash: eventsBefore[0]!.hash });
  });

  test("work that throws after an update rolls the projection back to the old values", async () => {
    const { db, store, writer, opportunities } = resources.service({ now: new SteppingClock().now });
    await writer.execute(createCommand(createBody("U", { amount: 7 })), META);
    expect(() =>
      store.write((tx) => {
        tx.append("U", 1, [{ type: OPPORTUNITY_UPDATED, data: { changes: { amount: 8 }, previous: { amount: 7 } } }], META);
        expect(opportunities.find("U")?.amount).toBe(8);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(opportunities.find("U")).toMatchObject({ amount: 7, version: 1 });
    expect(eventCount(db)).toBe(1);
  });

  test("a projector that throws rolls back the append and the projectors before it", () => {
    const { db } = resources.bareStore();
    const table = new OpportunitiesTable(db);
    let calls = 0;
    const store = new EventStore(db, {
      projectors: [
        table.projector(),
        (_db, event) => {
          calls += 1;
          if (event.streamId === "BAD") throw new Error("projector failed");
        },
      ],
      schemaVersionOf: (type) => SCHEMA_VERSIONS[type as keyof typeof SCHEMA_VERSIONS] ?? 1,
    });
    store.write((tx) => tx.append("GOOD", 0, [created("GOOD", 1)], META));
    const eventsBefore = eventRows(db);
    const rowsBefore = opportunityRows(db);

    expect(() => store.write((tx) => tx.append("BAD", 0, [created("BAD", 2)], META))).toThrow("projector failed");
    expect(calls).toBe(2);
    expect(eventRows(db)).toEqual(eventsBefore);
    expect(opportunityRows(db)).toEqual(rowsBefore);
    expect(table.find("BAD")).toBeNull();
    expect(table.count()).toBe(1);
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
