/**
 * What verify and restore say of an event's data and columns (events/event-data-check.ts): pure checks, each
 * refusal with its reason, and the sound cases passing, also after the checks remembered earlier sound values.
 */
import { describe, expect, test } from "bun:test";
import { eventColumnsProblem, eventDataProblem } from "../../events/event-data-check";
import type { EventRow } from "../../events/stored-event";

const UPDATED = "OpportunityUpdated";
const update = (changes: Record<string, unknown>, previous: Record<string, unknown>) => eventDataProblem(UPDATED, "OPP-1", { changes, previous });

describe("an update's changes and previous values", () => {
  test("the same fields on both sides: sound, however many", () => {
    expect(update({ amount: 2 }, { amount: 1 })).toBeNull();
    expect(update({ amount: 2, stage: "won", description: null }, { description: "x", stage: "lead", amount: 1 })).toBeNull();
  });

  test("no change at all", () => {
    expect(update({}, {})).toBe("an update with no changes");
  });

  test("a changed field without its old value", () => {
    expect(update({ amount: 2, stage: "won" }, { amount: 1 })).toBe("previous lacks the old value of changed field(s) stage");
  });

  test("an old value of a field that did not change, also when the counts are equal", () => {
    expect(update({ amount: 2 }, { amount: 1, stage: "lead" })).toBe("previous holds field(s) stage that did not change");
    expect(update({ amount: 2, stage: "won" }, { amount: 1, description: "x" })).toBe("previous lacks the old value of changed field(s) stage");
  });
});

describe("recorded_at", () => {
  const row = (recordedAt: string): EventRow => ({
    position: 1,
    event_id: "01JBZ8Q3W5RBX4T2M6N7P8Q9RS",
    stream_id: "OPP-1",
    version: 1,
    type: UPDATED,
    schema_version: 1,
    data: "{}",
    metadata: "{}",
    recorded_at: recordedAt,
    prev_hash: "0".repeat(64),
    hash: "0".repeat(64),
  });
  const metadata = { actor: "oms", requestId: "r-1" };

  test("a real UTC instant with milliseconds passes, again and again", () => {
    for (let n = 0; n < 3; n++) expect(eventColumnsProblem(row("2026-04-30T02:20:30.123Z"), metadata)).toBeNull();
  });

  test("an impossible date, another zone or no milliseconds are refused, even right after sound ones", () => {
    for (const bad of ["2026-02-31T00:00:00.000Z", "2026-04-30T10:20:30.123+08:00", "2026-04-30T02:20:30Z", "not-a-date"]) {
      expect(eventColumnsProblem(row("2026-04-30T02:20:30.123Z"), metadata)).toBeNull();
      expect(eventColumnsProblem(row(bad), metadata)).toBe(`recorded_at ${JSON.stringify(bad)} is not a UTC time like 2026-04-30T02:20:30.123Z`);
    }
  });
});
