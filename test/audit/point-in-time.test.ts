/**
 * Point-in-time answers (`stateAt`) checked against a plain-object model of seeded random histories written
 * through the real write path with a stepping clock: by version and by instant (inclusive), null before the
 * creation.
 */
import { describe, expect, test } from "bun:test";
import { foldStream } from "../../projections/opportunity-state";
import { stateAt } from "../../src/audit/state-at";
import { createBody, createCommand, META, SteppingClock, updateCommand } from "../store/store-fixture";
import { pick, prng } from "./audit-fixture";
import { backendsPerTest, readWholeStream, verifyBackend } from "../support/test-backend";
import { modelAt, runRandomHistory } from "./random-history";

const backends = backendsPerTest();

const SEEDS = [1, 7, 42, 2026, 99991];

describe("stateAt against a model fold of random histories", () => {
  for (const seed of SEEDS) {
    test(`seed ${seed}: every version and many instants match the model`, async () => {
      const clock = new SteppingClock(Date.UTC(2026, 2, 1, 8, 0, 0, 123), 1_000);
      const service = await backends.open({ now: clock.now });
      const history = await runRandomHistory(service, clock, seed, 150);
      expect(history.events).toBeGreaterThan(100);
      const random = prng(seed ^ 0x5eed);

      let checked = 0;
      for (const [code, snapshots] of history.snapshots) {
        const events = await readWholeStream(service.storage, code);
        // The stored stream is the model's, event for event.
        expect(events.map((e) => [e.version, e.recordedAt, e.metadata])).toEqual(snapshots.map((s) => [s.version, s.recordedAt, s.metadata]));
        const last = snapshots[snapshots.length - 1]!;

        // By version: 0 is before the creation, every version is that snapshot, beyond the last is the last.
        expect(stateAt(events, { version: 0 })).toBeNull();
        for (const snapshot of snapshots) {
          expect(stateAt(events, { version: snapshot.version })).toEqual(snapshot.state);
          checked += 1;
        }
        expect(stateAt(events, { version: last.version + 10 })).toEqual(last.state);

        // By instant: exactly at each event (inclusive), a millisecond before and after.
        for (const snapshot of snapshots) {
          const ms = Date.parse(snapshot.recordedAt);
          expect(stateAt(events, { asOf: ms })).toEqual(modelAt(snapshots, ms));
          expect(stateAt(events, { asOf: ms })!.version).toBeGreaterThanOrEqual(snapshot.version);
          expect(stateAt(events, { asOf: ms - 1 })).toEqual(modelAt(snapshots, ms - 1));
          expect(stateAt(events, { asOf: ms + 1 })).toEqual(modelAt(snapshots, ms + 1));
          checked += 3;
        }
        // Before the creation there is nothing.
        expect(stateAt(events, { asOf: Date.parse(snapshots[0]!.recordedAt) - 1 })).toBeNull();
        expect(stateAt(events, { asOf: history.firstMs - 86_400_000 })).toBeNull();
        // Random instants across the whole run, and far after it.
        for (let i = 0; i < 20; i++) {
          const ms = history.firstMs - 2_000 + pick(random, history.lastMs - history.firstMs + 4_000);
          expect(stateAt(events, { asOf: ms })).toEqual(modelAt(snapshots, ms));
          checked += 1;
        }
        expect(stateAt(events, { asOf: history.lastMs + 86_400_000 })).toEqual(last.state);

        // The present: the projection and a full fold equal the model's last state.
        expect(await service.storage.findOpportunity(code)).toEqual(last.state);
        expect(foldStream(events)).toEqual(last.state);
      }
      expect(checked).toBeGreaterThan(300);

      const report = await verifyBackend(service);
      expect(report.ok).toBe(true);
      expect(report.events).toBe(history.events);
      expect(report.opportunities).toBe(history.snapshots.size);
    });
  }
});

describe("stateAt on a hand-written history", () => {
  test("asOf exactly at an event's recordedAt includes it; one millisecond earlier does not", async () => {
    const clock = new SteppingClock(Date.UTC(2026, 3, 1, 0, 0, 0, 500), 1_000);
    const service = await backends.open({ now: clock.now });
    await service.writer.execute(createCommand(createBody("PIT-1", { amount: 10 })), META); // 00:00:00.500
    await service.writer.execute(updateCommand({ opportunityCode: "PIT-1", amount: 20 }), META); // 00:00:01.500
    await service.writer.execute(updateCommand({ opportunityCode: "PIT-1", stage: "won" }), META); // 00:00:02.500

    const events = await readWholeStream(service.storage, "PIT-1");
    expect(events.map((e) => e.recordedAt)).toEqual(["2026-04-01T00:00:00.500Z", "2026-04-01T00:00:01.500Z", "2026-04-01T00:00:02.500Z"]);
    const at = (iso: string) => stateAt(events, { asOf: Date.parse(iso) });

    expect(at("2026-04-01T00:00:00.499Z")).toBeNull();
    expect(at("2026-04-01T00:00:00.500Z")).toMatchObject({ version: 1, amount: 10, stage: null, createdAt: "2026-04-01T00:00:00.500Z" });
    expect(at("2026-04-01T00:00:01.499Z")).toMatchObject({ version: 1, amount: 10 });
    expect(at("2026-04-01T00:00:01.500Z")).toMatchObject({ version: 2, amount: 20, stage: null, updatedAt: "2026-04-01T00:00:01.500Z" });
    expect(at("2026-04-01T00:00:02.500Z")).toMatchObject({ version: 3, amount: 20, stage: "won", updatedAt: "2026-04-01T00:00:02.500Z" });
    expect(at("2030-01-01T00:00:00.000Z")).toEqual(await service.storage.findOpportunity("PIT-1"));

    expect(stateAt(events, { version: 2 })).toMatchObject({ version: 2, amount: 20, stage: null });
    expect(stateAt([], { version: 5 })).toBeNull();
    expect(stateAt([], { asOf: Date.now() })).toBeNull();
  });

  test("events of one transaction share an instant: asOf that instant includes all of them", async () => {
    const clock = new SteppingClock(Date.UTC(2026, 3, 1, 0, 0, 0, 7), 1_000);
    const service = await backends.open({ now: clock.now });
    await service.writer.executeMany([
      { command: createCommand(createBody("PIT-2", { amount: 1 })), metadata: META },
      { command: updateCommand({ opportunityCode: "PIT-2", amount: 2 }), metadata: META },
      { command: updateCommand({ opportunityCode: "PIT-2", description: "same instant" }), metadata: META },
    ]);
    const events = await readWholeStream(service.storage, "PIT-2");
    expect(events.map((e) => e.version)).toEqual([1, 2, 3]);
    const instant = Date.parse(events[0]!.recordedAt);
    expect(events.every((e) => Date.parse(e.recordedAt) === instant)).toBe(true);

    expect(stateAt(events, { asOf: instant - 1 })).toBeNull();
    expect(stateAt(events, { asOf: instant })).toMatchObject({ version: 3, amount: 2, description: "same instant" });
    // By version the intermediate states are still there.
    expect(stateAt(events, { version: 1 })).toMatchObject({ version: 1, amount: 1, description: null });
    expect(stateAt(events, { version: 2 })).toMatchObject({ version: 2, amount: 2, description: null });
  });
});
