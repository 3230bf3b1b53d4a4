/**
 * The pace of a verification job (src/audit/verification-pace.ts): the service's own is the lowest priority and a
 * quarter of the time at work; the pacer pauses three times as long as it worked, once per whole slice.
 */
import { describe, expect, test } from "bun:test";
import { DEFAULT_VERIFICATION_PACE, pacer } from "../../src/audit/verification-pace";

/** A pacer on a clock the test moves, with the pauses it asked for. */
function pacedClock(pace = DEFAULT_VERIFICATION_PACE) {
  let now = 1_000;
  const pauses: number[] = [];
  const tick = pacer(
    pace,
    () => now,
    (ms) => {
      pauses.push(ms);
      now += ms;
    },
  );
  return { pauses, work: (ms: number) => ((now += ms), tick()) };
}

describe("the verification pace", () => {
  test("the service's: lowest priority, 20 ms slices, three times as long paused", () => {
    expect(DEFAULT_VERIFICATION_PACE).toEqual({ lowPriority: true, workSliceMs: 20, pausePerWork: 3 });
    expect(Object.isFrozen(DEFAULT_VERIFICATION_PACE)).toBe(true);
  });

  test("no pause within a slice; after a whole one, three times what was worked; the next slice starts after the pause", () => {
    const clock = pacedClock();
    clock.work(5);
    clock.work(10);
    expect(clock.pauses).toEqual([]);
    clock.work(7);
    expect(clock.pauses).toEqual([66]);
    clock.work(19);
    expect(clock.pauses).toEqual([66]);
    clock.work(1);
    expect(clock.pauses).toEqual([66, 60]);
  });

  test("pausePerWork 0 never pauses", () => {
    const clock = pacedClock({ lowPriority: false, workSliceMs: 20, pausePerWork: 0 });
    for (let step = 0; step < 10; step++) clock.work(50);
    expect(clock.pauses).toEqual([]);
  });
});
