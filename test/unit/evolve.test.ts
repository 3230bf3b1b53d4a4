import { describe, expect, test } from "bun:test";
import { OPPORTUNITY_FIELD_NAMES } from "../../events/opportunity-events";
import { evolve, evolveOwned, foldStream, type FoldableEvent, type Opportunity } from "../../projections/opportunity-state";

const created: FoldableEvent = {
  type: "OpportunityCreated",
  version: 1,
  recordedAt: "2026-04-01T00:00:00.000Z",
  data: {
    id: 3,
    opportunityCode: "OPP-1",
    endCustomerName: "某某集团",
    opportunityName: "智慧园区项目",
    stage: "bidding",
    status: "active",
    archived: false,
    pushedToOms: false,
    salesExpansionId: 9223372036854775807n,
  },
};
const updated: FoldableEvent = {
  type: "OpportunityUpdated",
  version: 2,
  recordedAt: "2026-04-02T00:00:00.000Z",
  data: { changes: { stage: "won", status: "won", description: "回写" }, previous: { stage: "bidding", status: "active", description: null } },
};
const cleared: FoldableEvent = {
  type: "OpportunityUpdated",
  version: 3,
  recordedAt: "2026-04-03T00:00:00.000Z",
  data: { changes: { description: null }, previous: { description: "回写" } },
};

/** The state every field of which is null, but for the given ones. */
function stateWith(values: Partial<Opportunity>): Opportunity {
  const fields = Object.fromEntries(OPPORTUNITY_FIELD_NAMES.map((name) => [name, null]));
  return { ...fields, ...values } as Opportunity;
}

const AFTER_CREATED = stateWith({
  id: 3,
  opportunityCode: "OPP-1",
  endCustomerName: "某某集团",
  version: 1,
  createdAt: "2026-04-01T00:00:00.000Z",
  updatedAt: "2026-04-01T00:00:00.000Z",
  opportunityName: "智慧园区项目",
  stage: "bidding",
  status: "active",
  archived: false,
  pushedToOms: false,
  salesExpansionId: 9223372036854775807n,
});

describe("evolve", () => {
  test("created on null: every field present, unsent ones null", () => {
    expect(evolve(null, created)).toEqual(AFTER_CREATED);
  });

  test("created then updated: changes applied, version and updatedAt advance, createdAt kept", () => {
    expect(evolve(evolve(null, created), updated)).toEqual({
      ...AFTER_CREATED,
      stage: "won",
      status: "won",
      description: "回写",
      version: 2,
      updatedAt: "2026-04-02T00:00:00.000Z",
    });
  });

  test("an update to null clears the field", () => {
    const state = foldStream([created, updated, cleared]);
    expect(state?.description).toBeNull();
    expect(state?.stage).toBe("won");
    expect(state?.version).toBe(3);
  });

  test("does not mutate the state it is given", () => {
    const before = evolve(null, created)!;
    const copy = { ...before };
    evolve(before, updated);
    expect(before).toEqual(copy);
  });

  test("an update on a null state returns null", () => {
    expect(evolve(null, updated)).toBeNull();
  });

  test("an unknown event type leaves every field alone", () => {
    const state = evolve(null, created)!;
    const next = evolve(state, { type: "OpportunityArchivedSomeday", version: 2, recordedAt: "2026-05-01T00:00:00.000Z", data: { stage: "lost" } });
    expect(next).toMatchObject({ stage: "bidding", status: "active", updatedAt: "2026-04-01T00:00:00.000Z", createdAt: "2026-04-01T00:00:00.000Z" });
    expect(next).toEqual({ ...state, version: 2 });
  });

  test("an unknown event type on null state stays null", () => {
    expect(evolve(null, { type: "Whatever", version: 1, recordedAt: "2026-04-01T00:00:00.000Z", data: {} })).toBeNull();
  });

  test("fields an update does not name are not touched", () => {
    const next = evolve(AFTER_CREATED, { ...updated, data: { changes: { amount: 5 }, previous: { amount: null } } });
    expect(next).toEqual({ ...AFTER_CREATED, amount: 5, version: 2, updatedAt: "2026-04-02T00:00:00.000Z" });
  });
});

describe("foldStream", () => {
  test.each<[string, FoldableEvent[], Partial<Opportunity> | null]>([
    ["no events", [], null],
    ["only an update", [updated], null],
    ["created", [created], { version: 1, stage: "bidding", description: null }],
    ["created, updated", [created, updated], { version: 2, stage: "won", description: "回写" }],
    ["created, updated, cleared", [created, updated, cleared], { version: 3, stage: "won", description: null, updatedAt: "2026-04-03T00:00:00.000Z" }],
  ])("%s", (_name, events, expected) => {
    const state = foldStream(events);
    if (expected === null) expect(state).toBeNull();
    else expect(state).toMatchObject(expected);
  });

  test("accepts any iterable", () => {
    function* events() {
      yield created;
      yield updated;
    }
    expect(foldStream(events())?.status).toBe("won");
  });
});

describe("evolveOwned: the same fold, changing the state it owns", () => {
  const unknown: FoldableEvent = { type: "OpportunityArchivedSomeday", version: 4, recordedAt: "2026-04-04T00:00:00.000Z", data: {} };
  const events = [created, updated, cleared, unknown];

  test("gives at each step the state evolve gives", () => {
    let pure: Opportunity | null = null;
    let owned: Opportunity | null = null;
    for (const event of events) {
      pure = evolve(pure, event);
      owned = evolveOwned(owned, event);
      expect(owned).toEqual(pure);
    }
  });

  test("changes and returns the very state it is given (no copy); evolve never does", () => {
    const state = evolve(null, created)!;
    const snapshot = structuredClone(state);
    expect(evolve(state, updated)).not.toBe(state);
    expect(state).toEqual(snapshot);
    expect(evolveOwned(state, updated)).toBe(state);
    expect(state.version).toBe(2);
    expect(evolveOwned(null, updated)).toBeNull();
  });
});
