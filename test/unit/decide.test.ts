import { describe, expect, test } from "bun:test";
import type { FieldValues, OpportunityEvent } from "../../events/opportunity-events";
import { foldStream, type FoldableEvent, type Opportunity } from "../../projections/opportunity-state";
import type { CreateOpportunity, UpdateOpportunity } from "../../src/commands";
import { decide, NOT_FOUND } from "../../src/decide";

const CODE = "OPP-20260401-001";
const CONTEXT = { nextId: 7 };

const create = (fields: FieldValues = {}, endCustomerName = "某某集团"): CreateOpportunity => ({
  type: "CreateOpportunity",
  opportunityCode: CODE,
  endCustomerName,
  fields,
});
const update = (fields: FieldValues): UpdateOpportunity => ({ type: "UpdateOpportunity", opportunityCode: CODE, fields });

/** Given: the state after these events (as recorded, version 1, 2, …). */
function given(...events: OpportunityEvent[]): Opportunity | null {
  const stored: FoldableEvent[] = events.map((event, index) => ({
    type: event.type,
    data: event.data,
    version: index + 1,
    recordedAt: `2026-04-0${index + 1}T00:00:00.000Z`,
  }));
  return foldStream(stored);
}

const CREATED: OpportunityEvent = {
  type: "OpportunityCreated",
  data: {
    id: 3,
    opportunityCode: CODE,
    endCustomerName: "某某集团",
    opportunityName: "智慧园区项目",
    stage: "bidding",
    status: "active",
    archived: false,
    pushedToOms: false,
    amount: 1000,
    salesExpansionId: 9007199254740993n,
  },
};

describe("decide CreateOpportunity", () => {
  test("on an empty stream: one OpportunityCreated with the next id, defaults and only non-null fields", () => {
    const decision = decide(create({ opportunityName: "智慧园区项目", amount: 2800000, description: null, stage: "won" }), null, CONTEXT);
    expect(decision).toEqual({
      ok: true,
      id: 7,
      version: 1,
      events: [
        {
          type: "OpportunityCreated",
          data: {
            id: 7,
            opportunityCode: CODE,
            endCustomerName: "某某集团",
            opportunityName: "智慧园区项目",
            amount: 2800000,
            stage: "won",
            status: "active",
            archived: false,
            pushedToOms: false,
          },
        },
      ],
    });
  });

  test("sent values win over the defaults", () => {
    const decision = decide(create({ opportunityName: "n", status: "won", archived: true, pushedToOms: true }), null, CONTEXT);
    expect(decision.ok && decision.events[0]?.data).toMatchObject({ status: "won", archived: true, pushedToOms: true });
  });

  test("a cleared text field (null) is left out of the event", () => {
    const decision = decide(create({ opportunityName: "n", projectLocation: null }), null, CONTEXT);
    expect(decision.ok && Object.keys(decision.events[0]!.data)).not.toContain("projectLocation");
  });

  test("on an existing stream: rejected 商机编号已存在", () => {
    expect(decide(create({ opportunityName: "n" }), given(CREATED), CONTEXT)).toEqual({
      ok: false,
      reason: "already_exists",
      message: `商机编号已存在: ${CODE}`,
    });
  });
});

describe("decide UpdateOpportunity", () => {
  test("on an empty stream: rejected 商机不存在", () => {
    expect(NOT_FOUND).toBe("商机不存在");
    expect(decide(update({ stage: "won" }), null, CONTEXT)).toEqual({ ok: false, reason: "not_found", message: "商机不存在" });
  });

  test.each<[string, FieldValues, FieldValues, FieldValues]>([
    ["one changed field", { stage: "won" }, { stage: "won" }, { stage: "bidding" }],
    [
      "only the fields that really change",
      { stage: "won", status: "active", amount: 2800000, opportunityName: "智慧园区项目" },
      { stage: "won", amount: 2800000 },
      { stage: "bidding", amount: 1000 },
    ],
    ["a field with no value yet: previous is null", { description: "回写" }, { description: "回写" }, { description: null }],
    ["unchanged fields among changed ones are left out", { opportunityName: "智慧园区项目", stage: "lost", amount: 1000, archived: true }, { stage: "lost", archived: true }, { stage: "bidding", archived: false }],
    ["a different bigint id", { salesExpansionId: 9007199254740995n }, { salesExpansionId: 9007199254740995n }, { salesExpansionId: 9007199254740993n }],
    ["a 64-bit id where there was none", { preSalesId: 9223372036854775807n }, { preSalesId: 9223372036854775807n }, { preSalesId: null }],
  ])("%s", (_name, fields, changes, previous) => {
    expect(decide(update(fields), given(CREATED), CONTEXT)).toEqual({
      ok: true,
      id: 3,
      version: 2,
      events: [{ type: "OpportunityUpdated", data: { changes, previous } }],
    });
  });

  test("clearing an optional text field that has a value records null as the change", () => {
    const state = given(CREATED, { type: "OpportunityUpdated", data: { changes: { projectLocation: "上海" }, previous: { projectLocation: null } } });
    expect(decide(update({ projectLocation: null }), state, CONTEXT)).toEqual({
      ok: true,
      id: 3,
      version: 3,
      events: [{ type: "OpportunityUpdated", data: { changes: { projectLocation: null }, previous: { projectLocation: "上海" } } }],
    });
  });

  test.each<[string, FieldValues]>([
    ["same values as the state", { stage: "bidding", status: "active", amount: 1000 }],
    ["same bigint value (a different bigint instance)", { salesExpansionId: BigInt("9007199254740993") }],
    ["clearing a field that has no value", { description: null, projectLocation: null }],
    ["no fields at all", {}],
  ])("nothing changes (%s): ok with the id and zero events", (_name, fields) => {
    expect(decide(update(fields), given(CREATED), CONTEXT)).toEqual({ ok: true, id: 3, version: 1, events: [] });
  });

  test.each<[string, number | undefined, object]>([
    ["If-Match at the current version: applied", 2, { ok: true, version: 3 }],
    ["If-Match at an older version: refused with the current one", 1, { ok: false, reason: "conflict", message: "商机已被修改，当前版本为 2", version: 2 }],
    ["If-Match at a version not reached yet: refused", 5, { ok: false, reason: "conflict", version: 2 }],
    ["no If-Match: last writer wins", undefined, { ok: true, version: 3 }],
  ])("%s", (_name, expectedVersion, outcome) => {
    const state = given(CREATED, { type: "OpportunityUpdated", data: { changes: { stage: "won" }, previous: { stage: "bidding" } } });
    expect(decide({ ...update({ stage: "lost" }), expectedVersion }, state, CONTEXT)).toMatchObject(outcome);
  });

  test("If-Match on an unknown opportunity: not found, not conflict", () => {
    expect(decide({ ...update({ stage: "lost" }), expectedVersion: 1 }, null, CONTEXT)).toMatchObject({ ok: false, reason: "not_found", message: "商机不存在" });
  });

  test("the update uses the state's id, not context.nextId", () => {
    const decision = decide(update({ stage: "won" }), given(CREATED), { nextId: 99 });
    expect(decision.ok && decision.id).toBe(3);
  });
});
