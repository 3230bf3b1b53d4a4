import { describe, expect, test } from "bun:test";
import { eventHash, GENESIS_HASH } from "../../events/hash-chain";
import { foldStream, type Opportunity } from "../../projections/opportunity-state";
import type { CreateOpportunity, UpdateOpportunity } from "../../src/commands";
import { KeyRetention, type IdempotencyClaim } from "../../src/idempotency";
import { keySlot, needsOf, planBatch, type BatchSnapshot, type StoredKey, type WriteRequest, type WriteResult } from "../../src/write/batch-plan";

// A batch is decided in memory against a snapshot read under the write lock: given a snapshot, when these
// requests are planned, then these outcomes, events, projection changes and keys.

const NOW = new Date("2026-05-01T02:00:00.000Z");
const retention = new KeyRetention(24, 3);
const META = { actor: "oms", requestId: "req-1" };
let ids = 0;
const context = { now: NOW, retention, nextEventId: () => `01J0000000000000000000${String(++ids).padStart(4, "0")}` };

const create = (code: string, fields: CreateOpportunity["fields"] = {}): CreateOpportunity => ({ type: "CreateOpportunity", opportunityCode: code, endCustomerName: "客户", fields });
const update = (code: string, fields: UpdateOpportunity["fields"], expectedVersion?: number): UpdateOpportunity => ({ type: "UpdateOpportunity", opportunityCode: code, fields, ...(expectedVersion ? { expectedVersion } : {}) });
const claim = (key: string, fingerprint = "fp-1", client = "oms"): IdempotencyClaim => ({ client, key, fingerprint });
const request = (command: WriteRequest["command"], idempotency?: IdempotencyClaim): WriteRequest => ({ command, metadata: META, idempotency });

/** The state of an opportunity created with these fields (version 1). */
function existing(code: string, id: number, fields: CreateOpportunity["fields"] = {}): Opportunity {
  return foldStream([{ type: "OpportunityCreated", data: { id, opportunityCode: code, endCustomerName: "客户", status: "active", archived: false, pushedToOms: false, ...fields }, version: 1, recordedAt: "2026-04-01T00:00:00.000Z" }])!;
}

interface Given {
  states?: Record<string, Opportunity | null>;
  keys?: Record<string, StoredKey>;
  held?: Record<string, number>;
  head?: { position: number; hash: string } | null;
  maxId?: number;
}

function given(world: Given) {
  return {
    when(...requests: WriteRequest[]) {
      const needs = needsOf(requests, NOW, retention);
      const snapshot: BatchSnapshot = {
        head: world.head ?? null,
        maxId: world.maxId ?? 0,
        states: new Map(needs.codes.map((code) => [code, world.states?.[code] ?? null])),
        keys: new Map(needs.claims.map((one) => [keySlot(one), world.keys?.[one.key] ?? null])),
        keysHeld: new Map(needs.clients.map((client) => [client, world.held?.[client] ?? 0])),
      };
      return planBatch(requests, snapshot, context);
    },
  };
}

/** Each request's result; a request that threw shows as `{ error }` (and fails the tests that expect results). */
const results = (plan: ReturnType<typeof planBatch>) => plan.outcomes.map((outcome) => ("result" in outcome ? (outcome.result as WriteResult) : ({ error: String(outcome.error) } as never as WriteResult)));

describe("planBatch: decisions in order, each against what the ones before it left", () => {
  test("a create and an update of the same code in one batch: versions 1 and 2, one projection insert with both", () => {
    const plan = given({ maxId: 41 }).when(request(create("OPP-1", { amount: 100 })), request(update("OPP-1", { amount: 250, stage: "won" })));
    expect(results(plan).map((result) => ({ ok: result.ok, id: (result as { id?: number }).id, version: result.version }))).toEqual([
      { ok: true, id: 42, version: 1 },
      { ok: true, id: 42, version: 2 },
    ]);
    expect(plan.rows.map((row) => [row.position, row.stream_id, row.version, row.type])).toEqual([
      [1, "OPP-1", 1, "OpportunityCreated"],
      [2, "OPP-1", 2, "OpportunityUpdated"],
    ]);
    expect(plan.projections).toHaveLength(1);
    expect(plan.projections[0]).toMatchObject({ created: true, state: { id: 42, amount: 250, stage: "won", version: 2 } });
    expect([...plan.projections[0]!.changedFields].sort()).toEqual(["amount", "stage"]);
  });

  test("two creates take the next two ids; an update of an unknown code is refused and appends nothing", () => {
    const plan = given({ maxId: 7 }).when(request(create("A")), request(update("NOPE", { amount: 1 })), request(create("B")));
    expect(results(plan).map((result) => (result.ok ? result.id : result.message))).toEqual([8, "商机不存在", 9]);
    expect(plan.rows.map((row) => row.stream_id)).toEqual(["A", "B"]);
  });

  test("If-Match against the state the batch's earlier requests left: the second writer at version 1 conflicts", () => {
    const plan = given({ states: { "OPP-1": existing("OPP-1", 5) }, maxId: 5 }).when(
      request(update("OPP-1", { amount: 10 }, 1)),
      request(update("OPP-1", { amount: 20 }, 1)),
    );
    expect(results(plan).map((result) => (result.ok ? result.version : result.message))).toEqual([2, "商机已被修改，当前版本为 2"]);
    expect(plan.projections[0]).toMatchObject({ created: false, state: { amount: 10, version: 2 } });
  });

  test("an update that changes nothing succeeds and plans nothing", () => {
    const plan = given({ states: { "OPP-1": existing("OPP-1", 5, { amount: 10 }) }, maxId: 5 }).when(request(update("OPP-1", { amount: 10 })));
    expect(results(plan)).toEqual([{ ok: true, id: 5, version: 1, events: [] }]);
    expect({ rows: plan.rows, projections: plan.projections }).toEqual({ rows: [], projections: [] });
  });
});

describe("planBatch: the hash chain", () => {
  test("rows link from the snapshot's head, each hash recomputes from its row", () => {
    const head = { position: 10, hash: "a".repeat(64) };
    const plan = given({ head, maxId: 3 }).when(request(create("A")), request(create("B")));
    expect(plan.rows.map((row) => row.position)).toEqual([11, 12]);
    expect(plan.rows[0]!.prev_hash).toBe(head.hash);
    expect(plan.rows[1]!.prev_hash).toBe(plan.rows[0]!.hash);
    for (const row of plan.rows) expect(row.hash).toBe(eventHash(row.prev_hash, row));
    expect(plan.head).toEqual({ position: 12, hash: plan.rows[1]!.hash });
  });

  test("an empty store starts from the genesis hash; a batch that appends nothing keeps the head", () => {
    expect(given({}).when(request(create("A"))).rows[0]!.prev_hash).toBe(GENESIS_HASH);
    const head = { position: 4, hash: "b".repeat(64) };
    expect(given({ head }).when(request(update("NOPE", { amount: 1 }))).head).toEqual(head);
  });
});

describe("planBatch: idempotency keys", () => {
  test("a stored key with the same fingerprint replays its answer; another fingerprint is refused", () => {
    const stored = { fingerprint: "fp-1", outcome: { ok: true, id: 5, version: 2 } };
    const plan = given({ states: { "OPP-1": existing("OPP-1", 5) }, keys: { k1: stored, k2: { ...stored, fingerprint: "other" } } }).when(
      request(update("OPP-1", { amount: 99 }), claim("k1")),
      request(update("OPP-1", { amount: 99 }), claim("k2")),
    );
    expect(results(plan)).toEqual([
      { ok: true, id: 5, version: 2, events: [], replayed: true },
      { ok: false, reason: "idempotency_mismatch", message: "Idempotency-Key 已用于另一个内容不同的请求，本次未做任何修改" },
    ]);
    expect({ rows: plan.rows.length, keys: plan.keys.length }).toEqual({ rows: 0, keys: 0 });
  });

  test("a new key is saved with its outcome and the proof of where it was reached", () => {
    const plan = given({ head: { position: 7, hash: "c".repeat(64) }, maxId: 2 }).when(request(create("A")), request(create("B"), claim("k-new")));
    expect(plan.keys).toEqual([
      {
        claim: claim("k-new"),
        outcome: JSON.stringify({ ok: true, id: 4, version: 1 }),
        proof: { streamId: "B", position: 8, appended: 1 },
        createdAt: NOW.toISOString(),
        bucketEnd: "2026-05-01T03:00:00.000Z",
      },
    ]);
    expect(plan.events[1]!.metadata).toEqual({ ...META, idempotencyKey: "k-new" });
  });

  test("the cap counts keys held and those saved earlier in the batch; beyond it nothing is stored", () => {
    const plan = given({ states: { "OPP-1": existing("OPP-1", 5) }, held: { oms: 1, bidding: 3 } }).when(
      request(update("OPP-1", { amount: 1 }), claim("a")),
      request(update("OPP-1", { amount: 2 }), claim("b")),
      request(update("OPP-1", { amount: 3 }), claim("c")),
      request(update("OPP-1", { amount: 4 }), claim("d", "fp", "bidding")),
    );
    expect(results(plan).map((result) => (result.ok ? result.version : result.reason))).toEqual([2, 3, "idempotency_limit", "idempotency_limit"]);
    expect(plan.keys.map((key) => key.claim.key)).toEqual(["a", "b"]);
    expect(plan.rows).toHaveLength(2);
  });
});

describe("planBatch: a request that fails unexpectedly", () => {
  test("is answered with its error and leaves nothing in the plan; its neighbours go on", () => {
    const broken = request(update("OPP-1", { amount: 1 }), claim("k-broken"));
    // A state the decision cannot read (its fields' getter throws): the plan must take back all it did.
    const trap = { ...existing("OPP-1", 5) } as Opportunity;
    Object.defineProperty(trap, "amount", {
      get() {
        throw new Error("unreadable state");
      },
    });
    const plan = given({ states: { "OPP-1": trap, "OPP-2": existing("OPP-2", 6) }, maxId: 6 }).when(request(create("OPP-3")), broken, request(update("OPP-2", { amount: 7 })));
    expect(results(plan) as unknown[]).toEqual([
      { ok: true, id: 7, version: 1, events: expect.any(Array), appended: 1 },
      { error: "Error: unreadable state" },
      { ok: true, id: 6, version: 2, events: expect.any(Array), appended: 1 },
    ]);
    expect(plan.rows.map((row) => [row.position, row.stream_id])).toEqual([
      [1, "OPP-3"],
      [2, "OPP-2"],
    ]);
    expect(plan.keys).toEqual([]);
    expect(plan.projections.map((change) => change.state.opportunityCode).sort()).toEqual(["OPP-2", "OPP-3"]);
  });
});

describe("needsOf", () => {
  test("each code and client once, every claim, and the key cut-off of the TTL", () => {
    const needs = needsOf([request(update("A", {}), claim("k1")), request(update("A", {}), claim("k2", "fp", "bidding")), request(create("B"))], NOW, retention);
    expect(needs).toEqual({ codes: ["A", "B"], claims: [claim("k1"), claim("k2", "fp", "bidding")], clients: ["oms", "bidding"], keysCutoff: "2026-04-30T02:00:00.000Z" });
  });
});
