/**
 * `toHistoryEntry`: what an auditor reads for each event — who (actor, requestId), when, and every field's
 * change from what to what. Creation changes start from null; updates list exactly the changed fields.
 */
import { describe, expect, test } from "bun:test";
import { OPPORTUNITY_FIELD_NAMES } from "../../events/opportunity-events";
import { toHistoryEntry, type FieldChange } from "../../src/audit/history";
import { createBody, createCommand, SteppingClock, updateCommand } from "../store/store-fixture";
import { backendsPerTest, readWholeStream } from "../support/test-backend";
import { runRandomHistory } from "./random-history";

const backends = backendsPerTest();

const byField = (changes: readonly FieldChange[]) => [...changes].sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
const INT64_MAX = 9223372036854775807n;

describe("history entries of a hand-written history", () => {
  test("creation: every non-null field and the end customer, from null; who and when from the event", async () => {
    const clock = new SteppingClock(Date.UTC(2026, 4, 1, 1, 2, 3, 456), 1_000);
    const service = await backends.open({ now: clock.now });
    await service.writer.execute(
      createCommand(createBody("HIS-1", { amount: 100, stage: "lead", description: "", projectLocation: "北京", preSalesId: 9007199254740993n })),
      { actor: "bidding", requestId: "req-create", idempotencyKey: "idem-1" },
    );
    const events = await readWholeStream(service.storage, "HIS-1");
    expect(events).toHaveLength(1);
    const entry = toHistoryEntry(events[0]!);

    expect({ ...entry, changes: [] }).toEqual({
      position: 1,
      version: 1,
      type: "OpportunityCreated",
      recordedAt: "2026-05-01T01:02:03.456Z",
      actor: "bidding",
      requestId: "req-create",
      changes: [],
    });
    expect(byField(entry.changes)).toEqual(
      byField([
        { field: "endCustomerName", from: null, to: "Customer of HIS-1" },
        { field: "opportunityName", from: null, to: "Name of HIS-1" },
        { field: "projectLocation", from: null, to: "北京" },
        { field: "amount", from: null, to: 100 },
        { field: "stage", from: null, to: "lead" },
        { field: "preSalesId", from: null, to: 9007199254740993n },
        // Creation defaults are facts of the creation too.
        { field: "archived", from: null, to: false },
        { field: "pushedToOms", from: null, to: false },
        { field: "status", from: null, to: "active" },
      ]),
    );
    // "" cleared the description at creation: no value, so no change listed.
    expect(entry.changes.some((c) => c.field === "description")).toBe(false);
    // Each field once.
    expect(new Set(entry.changes.map((c) => c.field)).size).toBe(entry.changes.length);
  });

  test("update: exactly the changed fields with from and to, cleared fields going to null", async () => {
    const clock = new SteppingClock(Date.UTC(2026, 4, 1, 1, 2, 3, 456), 1_000);
    const service = await backends.open({ now: clock.now });
    await service.writer.execute(createCommand(createBody("HIS-2", { amount: 100, stage: "lead", projectLocation: "北京", preSalesId: 9007199254740993n })), {
      actor: "oms",
      requestId: "r1",
    });
    await service.writer.execute(
      updateCommand({ opportunityCode: "HIS-2", amount: 200, stage: "lead", description: "新备注", projectLocation: "", preSalesId: INT64_MAX.toString(), confidencePct: "a" }),
      { actor: "import", requestId: "r2" },
    );
    // Changes nothing: appends nothing, so the history does not grow.
    await service.writer.execute(updateCommand({ opportunityCode: "HIS-2", amount: 200, stage: "lead" }), { actor: "oms", requestId: "r3" });
    await service.writer.execute(updateCommand({ opportunityCode: "HIS-2", status: "won", confidencePct: "A", amount: 150 }), { actor: "oms", requestId: "r4" });

    const entries = (await readWholeStream(service.storage, "HIS-2")).map(toHistoryEntry);
    expect(entries.map((e) => [e.position, e.version, e.type, e.actor, e.requestId, e.recordedAt])).toEqual([
      [1, 1, "OpportunityCreated", "oms", "r1", "2026-05-01T01:02:03.456Z"],
      [2, 2, "OpportunityUpdated", "import", "r2", "2026-05-01T01:02:04.456Z"],
      // The no-op write still took a clock tick (05.456) but recorded nothing.
      [3, 3, "OpportunityUpdated", "oms", "r4", "2026-05-01T01:02:06.456Z"],
    ]);
    expect(byField(entries[1]!.changes)).toEqual(
      byField([
        { field: "amount", from: 100, to: 200 },
        { field: "description", from: null, to: "新备注" },
        { field: "projectLocation", from: "北京", to: null },
        { field: "preSalesId", from: 9007199254740993n, to: INT64_MAX },
        { field: "confidencePct", from: null, to: "A" },
      ]),
    );
    // confidencePct was sent as "A" again: unchanged, so not listed.
    expect(byField(entries[2]!.changes)).toEqual(
      byField([
        { field: "amount", from: 200, to: 150 },
        { field: "status", from: "active", to: "won" },
      ]),
    );
  });
});

describe("history entries against the model of random histories", () => {
  for (const seed of [3, 17, 31337]) {
    test(`seed ${seed}: each entry's changes are exactly the difference between the model's states`, async () => {
      const clock = new SteppingClock();
      const service = await backends.open({ now: clock.now });
      const history = await runRandomHistory(service, clock, seed, 120);
      let updates = 0;
      let cleared = 0;

      for (const [code, snapshots] of history.snapshots) {
        const entries = (await readWholeStream(service.storage, code)).map(toHistoryEntry);
        expect(entries).toHaveLength(snapshots.length);
        entries.forEach((entry, index) => {
          const snapshot = snapshots[index]!;
          expect([entry.version, entry.recordedAt, entry.actor, entry.requestId]).toEqual([
            snapshot.version,
            snapshot.recordedAt,
            snapshot.metadata.actor,
            snapshot.metadata.requestId,
          ]);
          const expected: FieldChange[] = [];
          if (index === 0) {
            expect(entry.type).toBe("OpportunityCreated");
            expected.push({ field: "endCustomerName", from: null, to: `Customer of ${code}` });
            for (const name of OPPORTUNITY_FIELD_NAMES) {
              if (snapshot.state[name] !== null) expected.push({ field: name, from: null, to: snapshot.state[name] });
            }
          } else {
            expect(entry.type).toBe("OpportunityUpdated");
            updates += 1;
            const before = snapshots[index - 1]!.state;
            for (const name of OPPORTUNITY_FIELD_NAMES) {
              if (before[name] !== snapshot.state[name]) expected.push({ field: name, from: before[name], to: snapshot.state[name] });
            }
            expect(expected.length).toBeGreaterThan(0);
            // Only fields the command sent can have changed.
            for (const change of expected) expect(Object.keys(snapshot.sent)).toContain(change.field);
            cleared += expected.filter((c) => c.to === null).length;
          }
          expect(byField(entry.changes)).toEqual(byField(expected));
        });
      }
      // The seeds do exercise updates and clearing.
      expect(updates).toBeGreaterThan(50);
      expect(cleared).toBeGreaterThan(0);
    });
  }
});
