import { describe, expect, test } from "bun:test";
import { foldStream, type Opportunity } from "../../projections/opportunity-state";
import type { CreateOpportunity, UpdateOpportunity } from "../../src/commands";
import { KeyRetention, type IdempotencyClaim } from "../../src/idempotency";
import { keySlot, needsOf, planBatch, type BatchSnapshot, type StoredKey, type UnitResult, type WriteUnit } from "../../src/write/batch-plan";
import { NOT_RUN, type BatchItem, type BatchUpdateRequest, type BatchUpdateResult } from "../../src/write/batch-update";
import { changesOf } from "../../src/write/dry-run";

// A batch update is one unit of a group commit: given a snapshot, when the unit (and maybe other writes beside
// it) is planned, then each item is decided in order against what the items before it left, each real change is
// its own event naming the item, allOrNone takes everything of the unit back, and the key stores the whole answer.

const NOW = new Date("2026-05-01T02:00:00.000Z");
const retention = new KeyRetention(24, 100);
const META = { actor: "oms", requestId: "batch-req-1" };
let ids = 0;
const context = { now: NOW, retention, nextEventId: () => `01J0000000000000000000${String(++ids).padStart(4, "0")}` };

const update = (code: string, fields: UpdateOpportunity["fields"]): BatchItem => ({ command: { type: "UpdateOpportunity", opportunityCode: code, fields } });
const invalid = (message: string, code: string | null = null): BatchItem => ({ invalid: message, opportunityCode: code });
const batch = (items: BatchItem[], allOrNone = false, idempotency?: IdempotencyClaim): BatchUpdateRequest => ({ batch: { items, allOrNone }, metadata: META, idempotency });
const create = (code: string): WriteUnit => ({ command: { type: "CreateOpportunity", opportunityCode: code, endCustomerName: "客户", fields: {} } as CreateOpportunity, metadata: { actor: "oms", requestId: "single" } });
const claim = (key: string, fingerprint = "fp-batch"): IdempotencyClaim => ({ client: "oms", key, fingerprint });

function existing(code: string, id: number, fields: CreateOpportunity["fields"] = {}): Opportunity {
  return foldStream([{ type: "OpportunityCreated", data: { id, opportunityCode: code, endCustomerName: "客户", status: "active", archived: false, pushedToOms: false, ...fields }, version: 1, recordedAt: "2026-04-01T00:00:00.000Z" }])!;
}

function given(world: { states?: Record<string, Opportunity>; keys?: Record<string, StoredKey>; head?: { position: number; hash: string }; maxId?: number }) {
  return {
    when(...units: WriteUnit[]) {
      const needs = needsOf(units, NOW, retention);
      const snapshot: BatchSnapshot = {
        head: world.head ?? null,
        maxId: world.maxId ?? 0,
        states: new Map(needs.codes.map((code) => [code, world.states?.[code] ?? null])),
        keys: new Map(needs.claims.map((one) => [keySlot(one), world.keys?.[one.key] ?? null])),
        keysHeld: new Map(needs.clients.map((client) => [client, 0])),
      };
      return planBatch(units, snapshot, context);
    },
  };
}

const resultOf = (plan: ReturnType<typeof planBatch>, index = 0): UnitResult => {
  const outcome = plan.outcomes[index]!;
  if ("error" in outcome) throw outcome.error;
  return outcome.result;
};
const batchOf = (plan: ReturnType<typeof planBatch>, index = 0) => {
  const result = resultOf(plan, index) as BatchUpdateResult;
  if (!result.ok) throw new Error(`the batch was refused: ${result.message}`);
  return result.batch;
};
/** Each item as its answer reads: the version reached, or the message. */
const answers = (plan: ReturnType<typeof planBatch>) => batchOf(plan).items.map((item) => (item.result.ok ? item.result.version : item.result.message));

describe("a batch update: items decided in order", () => {
  test("the same code twice: the second item sees the first's change; two events, one projection change", () => {
    const plan = given({ states: { A: existing("A", 3, { amount: 100 }) }, maxId: 3 }).when(batch([update("A", { amount: 200 }), update("A", { amount: 300, stage: "won" })]));
    expect(answers(plan)).toEqual([2, 3]);
    expect(plan.events.map((event) => [event.version, event.data])).toEqual([
      [2, { changes: { amount: 200 }, previous: { amount: 100 } }],
      [3, { changes: { amount: 300, stage: "won" }, previous: { amount: 200, stage: null } }],
    ]);
    expect(plan.projections).toHaveLength(1);
    expect(plan.projections[0]).toMatchObject({ created: false, state: { amount: 300, stage: "won", version: 3 } });
  });

  test("mixed items: a refused one and an invalid one fail alone, the others are written; each event names its item", () => {
    const plan = given({ states: { A: existing("A", 1), B: existing("B", 2) }, maxId: 2 }).when(
      batch([update("A", { amount: 5 }), update("GHOST", { amount: 1 }), invalid("项目把握度仅支持A、B、C", "A"), update("B", { description: "第四条" }), update("A", { amount: 5 })]),
    );
    expect(answers(plan)).toEqual([2, "商机不存在", "项目把握度仅支持A、B、C", 2, 2]);
    expect(batchOf(plan).failedIndex).toBeNull();
    expect(plan.events.map((event) => [event.streamId, event.metadata])).toEqual([
      ["A", { ...META, batchIndex: 0 }],
      ["B", { ...META, batchIndex: 3 }],
    ]);
    expect(batchOf(plan).items.map((item) => item.appended)).toEqual([1, 0, 0, 1, 0]);
    expect(resultOf(plan)).toMatchObject({ ok: true, appended: 2 });
  });

  test("an invalid item without a readable code keeps null as its code, and is not decided", () => {
    const plan = given({}).when(batch([invalid("opportunityCode 不能为空")]));
    expect(batchOf(plan).items).toEqual([{ index: 0, opportunityCode: null, result: { ok: false, reason: "invalid", message: "opportunityCode 不能为空" }, appended: 0 }]);
    expect(plan.rows).toEqual([]);
  });
});

describe("allOrNone", () => {
  test("a failure in the middle: nothing of the batch is planned, the others answer 未执行, the first failure is named", () => {
    const head = { position: 4, hash: "d".repeat(64) };
    const plan = given({ head, states: { A: existing("A", 1), B: existing("B", 2) }, maxId: 2 }).when(
      batch([update("A", { amount: 9 }), update("GHOST", { amount: 1 }), update("B", { amount: 8 }), invalid("至少传入一个需要更新的字段", "B")], true),
    );
    expect(answers(plan)).toEqual([NOT_RUN, "商机不存在", NOT_RUN, "至少传入一个需要更新的字段"]);
    expect(batchOf(plan).failedIndex).toBe(1);
    expect({ rows: plan.rows, events: plan.events, projections: plan.projections, head: plan.head }).toEqual({ rows: [], events: [], projections: [], head });
  });

  test("a stopped batch leaves the writes planned before it in the same group as they were, and the ones after see its codes unchanged", () => {
    const plan = given({ states: { A: existing("A", 1) }, maxId: 1 }).when(create("NEW"), batch([update("A", { amount: 9 }), update("GHOST", { amount: 1 })], true), batch([update("A", { amount: 7 })]));
    expect(resultOf(plan, 0)).toMatchObject({ ok: true, id: 2, version: 1 });
    expect(batchOf(plan, 1).failedIndex).toBe(1);
    expect(batchOf(plan, 2).items[0]!.result).toMatchObject({ ok: true, version: 2 });
    expect(plan.rows.map((row) => [row.position, row.stream_id, row.version])).toEqual([
      [1, "NEW", 1],
      [2, "A", 2],
    ]);
    expect(plan.events[1]!.data).toEqual({ changes: { amount: 7 }, previous: { amount: null } });
  });

  test("every item succeeding: written as without allOrNone", () => {
    const plan = given({ states: { A: existing("A", 1) }, maxId: 1 }).when(batch([update("A", { amount: 1 }), update("A", { amount: 2 })], true));
    expect(answers(plan)).toEqual([2, 3]);
    expect(plan.rows).toHaveLength(2);
  });
});

describe("the key of a batch", () => {
  test("covers the whole batch: one key, its outcome the whole answer without events, its proof naming no stream", () => {
    const head = { position: 10, hash: "e".repeat(64) };
    const plan = given({ head, states: { A: existing("A", 1) }, maxId: 1 }).when(batch([update("A", { amount: 3 }), update("GHOST", { amount: 1 })], false, claim("k-batch")));
    expect(plan.keys).toHaveLength(1);
    expect(plan.keys[0]!.proof).toEqual({ streamId: null, position: 10, appended: 1 });
    expect(JSON.parse(plan.keys[0]!.outcome)).toEqual({
      ok: true,
      batch: {
        allOrNone: false,
        failedIndex: null,
        items: [
          { index: 0, opportunityCode: "A", result: { ok: true, id: 1, version: 2 }, appended: 1 },
          { index: 1, opportunityCode: "GHOST", result: { ok: false, reason: "not_found", message: "商机不存在" }, appended: 0 },
        ],
      },
    });
    expect(plan.events.map((event) => event.metadata)).toEqual([{ ...META, idempotencyKey: "k-batch", batchIndex: 0 }]);
  });

  test("a stopped allOrNone batch still stores its answer, with nothing appended", () => {
    const plan = given({ states: { A: existing("A", 1) }, maxId: 1 }).when(batch([update("A", { amount: 3 }), update("GHOST", { amount: 1 })], true, claim("k-stopped")));
    expect(plan.keys.map((key) => key.proof)).toEqual([{ streamId: null, position: 0, appended: 0 }]);
    expect(plan.rows).toEqual([]);
  });

  test("a stored key with the same fingerprint replays the stored answer and decides nothing; another fingerprint is refused", () => {
    const stored = { fingerprint: "fp-batch", outcome: { ok: true, batch: { allOrNone: false, failedIndex: null, items: [{ index: 0, opportunityCode: "A", result: { ok: true, id: 1, version: 2 }, appended: 1 }] } } };
    const plan = given({ states: { A: existing("A", 1) }, keys: { k1: stored, k2: { ...stored, fingerprint: "other" } } }).when(
      batch([update("A", { amount: 99 })], false, claim("k1")),
      batch([update("A", { amount: 99 })], false, claim("k2")),
    );
    expect(resultOf(plan, 0)).toEqual({
      ok: true,
      batch: { allOrNone: false, failedIndex: null, items: [{ index: 0, opportunityCode: "A", result: { ok: true, id: 1, version: 2, events: [] }, appended: 1 }] },
      replayed: true,
    });
    expect(resultOf(plan, 1)).toEqual({ ok: false, reason: "idempotency_mismatch", message: "Idempotency-Key 已用于另一个内容不同的请求，本次未做任何修改" });
    expect({ rows: plan.rows, keys: plan.keys }).toEqual({ rows: [], keys: [] });
  });
});

describe("needsOf a batch", () => {
  test("every decided item's code once; invalid items name none; the batch's one claim", () => {
    const needs = needsOf([batch([update("A", {}), invalid("x", "Z"), update("B", {}), update("A", {})], false, claim("k"))], NOW, retention);
    expect({ codes: needs.codes, claims: needs.claims }).toEqual({ codes: ["A", "B"], claims: [claim("k")] });
  });
});

describe("changesOf: what a dry run shows", () => {
  test("an update: each changed field from its previous value; a creation: every value it sets, from null", () => {
    const plan = given({ states: { A: existing("A", 1, { amount: 100 }) }, maxId: 1 }).when(batch([update("A", { amount: 200, description: "备注" })]), create("NEW"));
    const updated = batchOf(plan).items[0]!.result;
    const created = resultOf(plan, 1);
    if (!updated.ok || !created.ok || "batch" in created) throw new Error("both should succeed");
    expect(changesOf(updated.events)).toEqual({ amount: { from: 100, to: 200 }, description: { from: null, to: "备注" } });
    expect(changesOf(created.events)).toEqual({
      endCustomerName: { from: null, to: "客户" },
      status: { from: null, to: "active" },
      archived: { from: null, to: false },
      pushedToOms: { from: null, to: false },
    });
    expect(changesOf([])).toEqual({});
  });
});
