import { describe, expect, test } from "bun:test";
import type { Opportunity } from "../../projections/opportunity-state";
import { FoldSnapshots } from "../../src/audit/fold-snapshots";

const stateAt = (version: number) => ({ version }) as unknown as Opportunity;

describe("FoldSnapshots", () => {
  test("nearest is the greatest remembered version at or below the point, else version 0 and no state", () => {
    const snapshots = new FoldSnapshots();
    snapshots.remember("A", 500, stateAt(500));
    snapshots.remember("A", 1000, stateAt(1000));
    expect(snapshots.nearest("A", 499)).toEqual({ version: 0, state: null });
    expect(snapshots.nearest("A", 500)).toEqual({ version: 500, state: stateAt(500) });
    expect(snapshots.nearest("A", 999)).toEqual({ version: 500, state: stateAt(500) });
    expect(snapshots.nearest("A", 5000)).toEqual({ version: 1000, state: stateAt(1000) });
    expect(snapshots.nearest("B", 5000)).toEqual({ version: 0, state: null });
  });

  test("remembered states are frozen; the same version twice is kept once", () => {
    const snapshots = new FoldSnapshots();
    snapshots.remember("A", 500, stateAt(500));
    snapshots.remember("A", 500, stateAt(501));
    expect(snapshots.count).toBe(1);
    expect(Object.isFrozen(snapshots.nearest("A", 500).state)).toBe(true);
    expect(snapshots.nearest("A", 500).state!.version).toBe(500);
  });

  test("at the cap, the streams read least recently are dropped first", () => {
    const snapshots = new FoldSnapshots(3);
    snapshots.remember("A", 500, stateAt(500));
    snapshots.remember("B", 500, stateAt(500));
    snapshots.remember("C", 500, stateAt(500));
    snapshots.nearest("A", 500); // A is now the most recently read
    snapshots.remember("D", 500, stateAt(500));
    expect(snapshots.count).toBe(3);
    expect(snapshots.nearest("B", 500).version).toBe(0);
    expect(snapshots.nearest("A", 500).version).toBe(500);
    expect(snapshots.nearest("C", 500).version).toBe(500);
    expect(snapshots.nearest("D", 500).version).toBe(500);
  });

  test("one stream alone at the cap keeps its earlier states and adds none", () => {
    const snapshots = new FoldSnapshots(2);
    for (const version of [500, 1000, 1500]) snapshots.remember("A", version, stateAt(version));
    expect(snapshots.count).toBe(2);
    expect(snapshots.nearest("A", 2000).version).toBe(1000);
  });
});
