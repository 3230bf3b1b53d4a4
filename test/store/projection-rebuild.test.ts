import { afterEach, describe, expect, test } from "bun:test";
import type { Database } from "bun:sqlite";
import type { OpportunityCommand } from "../../src/commands";
import type { WriteResult } from "../../src/opportunity-writer";
import { DEFAULT_STAGES } from "../../src/stage-dictionary";
import { OPPORTUNITY_FIELD_NAMES, type OpportunityField } from "../../events/opportunity-events";
import { foldStream } from "../../projections/opportunity-state";
import { rebuildOpportunities } from "../../src/storage/sqlite/projection-rebuild";
import { chainProblems, createBody, createCommand, eventRows, META, opportunityRows, Resources, SteppingClock, updateCommand } from "./store-fixture";
import { prng } from "../support/seeded-random";

const eventCount = (db: Database) => db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM events").get()!.n;

const resources = new Resources();
afterEach(() => resources.disposeAll());

const INT64_MAX = 9223372036854775807n;
type Choice = readonly [raw: unknown, stored: unknown];

// For each field: values a client may send, each with the value the model expects to be stored.
const optionalText: Choice[] = [
  ["", null],
  ["北京", "北京"],
  ["  上海 ", "上海"],
  ["v1", "v1"],
  ["v2", "v2"],
];
const ids: Choice[] = [
  [1, 1],
  [42, 42],
  [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [9007199254740993n, 9007199254740993n],
  [INT64_MAX, INT64_MAX],
  [5n, 5],
  ["77", 77],
];
const booleans: Choice[] = [
  [true, true],
  [false, false],
];
const CHOICES: Record<OpportunityField, Choice[]> = {
  opportunityName: [
    ["Alpha", "Alpha"],
    ["  Beta  ", "Beta"],
    ["商机一号", "商机一号"],
  ],
  projectLocation: optionalText,
  operatorName: optionalText,
  amount: [
    [1, 1],
    [99.5, 99.5],
    [12345.67, 12345.67],
    [1e13, 1e13],
    [0.01, 0.01],
  ],
  expectedCloseDate: [
    ["2026-12-31", "2026-12-31"],
    ["2024-02-29", "2024-02-29"],
    [" 2030-01-01 ", "2030-01-01"],
  ],
  confidencePct: [
    ["a", "A"],
    ["B", "B"],
    [" c ", "C"],
  ],
  stage: DEFAULT_STAGES.flatMap((stage): Choice[] => [
    [stage.code, stage.code],
    [stage.label, stage.code],
  ]),
  opportunityType: optionalText,
  productType: optionalText,
  source: optionalText,
  salesExpansionId: ids,
  channelExpansionId: ids,
  preSalesId: ids,
  preSalesName: optionalText,
  competitorName: optionalText,
  archived: booleans,
  pushedToOms: booleans,
  omsPushTime: [
    ["2026-04-30 10:20:30", "2026-04-30T10:20:30+08:00"],
    ["2026-04-30T02:20:30Z", "2026-04-30T10:20:30+08:00"],
    [Date.UTC(2026, 3, 30, 2, 20, 30, 500), "2026-04-30T10:20:30.500+08:00"],
    ["2025-01-01T00:00:00+08:00", "2025-01-01T00:00:00+08:00"],
  ],
  status: [
    ["active", "active"],
    ["CLOSED", "closed"],
    ["won", "won"],
    [" lost", "lost"],
  ],
  description: optionalText,
};
const CREATION_DEFAULTS: Partial<Record<OpportunityField, unknown>> = { status: "active", archived: false, pushedToOms: false };
const CODES = Array.from({ length: 40 }, (_, i) => `OPP-${String(i).padStart(3, "0")}`);

type ModelRow = Record<string, unknown>;

/** The test's own model of the projection: a plain object per code, updated by rules written here. */
class Model {
  readonly rows = new Map<string, ModelRow>();
  events = 0;

  /** Applies a command's effect and returns the result the writer must give. */
  apply(kind: "create" | "update", code: string, sent: Partial<Record<OpportunityField, unknown>>, recordedAt: string, customer = ""): unknown {
    const current = this.rows.get(code);
    if (kind === "create") {
      if (current) return { ok: false, reason: "already_exists", message: `商机编号已存在: ${code}` };
      const row: ModelRow = { id: this.rows.size + 1, opportunityCode: code, endCustomerName: customer, version: 1, createdAt: recordedAt, updatedAt: recordedAt };
      for (const name of OPPORTUNITY_FIELD_NAMES) row[name] = sent[name] ?? CREATION_DEFAULTS[name] ?? null;
      this.rows.set(code, row);
      this.events += 1;
      return { ok: true, id: row.id, appended: 1 };
    }
    if (!current) return { ok: false, reason: "not_found", message: "商机不存在" };
    const changed = OPPORTUNITY_FIELD_NAMES.filter((name) => sent[name] !== undefined && sent[name] !== current[name]);
    if (changed.length === 0) return { ok: true, id: current.id, events: [] };
    for (const name of changed) current[name] = sent[name];
    current.version = (current.version as number) + 1;
    current.updatedAt = recordedAt;
    this.events += 1;
    return { ok: true, id: current.id, appended: 1 };
  }

  list(): ModelRow[] {
    return [...this.rows.values()].sort((a, b) => (a.id as number) - (b.id as number)).map((row) => ({ ...row }));
  }
}

interface Step {
  command: OpportunityCommand;
  expect: (recordedAt: string) => unknown;
}

/** One random command (create or update, valid by the contract) and what the model says it must do. */
function randomStep(random: () => number, model: Model): Step {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const code = pick(CODES);
  // Sometimes the code arrives with spaces around it: it is trimmed before anything else.
  const sentCode = random() < 0.1 ? `  ${code} ` : code;
  const body: Record<string, unknown> = { opportunityCode: sentCode };
  const sent: Partial<Record<OpportunityField, unknown>> = {};
  const current = model.rows.get(code);

  const noOp = current !== undefined && random() < 0.2;
  for (const name of OPPORTUNITY_FIELD_NAMES) {
    if (noOp) {
      // Resend a value that is already stored (in any of its spellings).
      const same = CHOICES[name].filter(([, stored]) => stored === current[name]);
      if (same.length > 0 && random() < 0.4) {
        const [raw, stored] = pick(same);
        body[name] = raw;
        sent[name] = stored;
      }
      continue;
    }
    const roll = random();
    if (roll < 0.2) {
      const [raw, stored] = pick(CHOICES[name]);
      body[name] = raw;
      sent[name] = stored;
    } else if (roll < 0.25) {
      body[name] = null; // null means "not sent"
    }
  }

  const create = !noOp && random() < 0.35;
  if (create) {
    if (body.opportunityName === undefined || body.opportunityName === null) {
      body.opportunityName = "New";
      sent.opportunityName = "New";
    }
    const customer = `客户 ${code}`;
    body.endCustomerName = ` ${customer} `;
    return { command: createCommand(body), expect: (at) => model.apply("create", code, sent, at, customer) };
  }
  if (!OPPORTUNITY_FIELD_NAMES.some((name) => sent[name] !== undefined)) {
    body.description = "";
    sent.description = null;
  }
  return { command: updateCommand(body), expect: (at) => model.apply("update", code, sent, at) };
}

async function runRandomHistory(seed: number, steps: number) {
  const clock = new SteppingClock();
  const service = resources.service({ now: clock.now });
  const random = prng(seed);
  const model = new Model();
  const outcomes = { created: 0, updated: 0, noOp: 0, notFound: 0, duplicate: 0 };
  const count = (result: WriteResult) => {
    if (!result.ok) outcomes[result.reason === "not_found" ? "notFound" : "duplicate"] += 1;
    else if (!result.appended) outcomes.noOp += 1;
    else if (result.events[0]!.type === "OpportunityCreated") outcomes.created += 1;
    else outcomes.updated += 1;
  };

  for (let i = 0; i < steps; i++) {
    if (random() < 0.08) {
      // A batch: one transaction, each command decided against the state the ones before it left.
      const batch = Array.from({ length: 2 + Math.floor(random() * 4) }, () => randomStep(random, model));
      const recordedAt = clock.peek();
      const results = await service.writer.executeMany(batch.map((step) => ({ command: step.command, metadata: { actor: "import", requestId: `b${i}` } })));
      results.forEach((result, index) => {
        expect(result).toMatchObject(batch[index]!.expect(recordedAt) as object);
        count(result);
      });
    } else {
      const step = randomStep(random, model);
      const recordedAt = clock.peek();
      const result = await service.writer.execute(step.command, { ...META, requestId: `s${i}` });
      expect(result).toMatchObject(step.expect(recordedAt) as object);
      count(result);
    }
  }
  return { service, model, outcomes };
}

describe("the opportunities projection equals a rebuild from the events", () => {
  for (const seed of [1, 7, 42, 2026, 90210]) {
    test(`random history, seed ${seed}: live rows = rebuilt rows = the test's model`, async () => {
      const { service, model, outcomes } = await runRandomHistory(seed, 300);
      const { db, opportunities, store } = service;

      // The history exercised every kind of outcome.
      expect(outcomes.created).toBeGreaterThan(10);
      expect(outcomes.updated).toBeGreaterThan(50);
      expect(outcomes.noOp).toBeGreaterThan(5);
      expect(outcomes.notFound).toBeGreaterThan(0);
      expect(outcomes.duplicate).toBeGreaterThan(0);

      expect(store.head()?.position).toBe(model.events);
      const rows = eventRows(db);
      expect(chainProblems(rows)).toEqual([]);

      const live = opportunityRows(db);
      expect(opportunities.list()).toEqual(model.list() as never);
      expect(live).toHaveLength(model.rows.size);

      // Each stream's own fold gives the same state as the table.
      for (const code of model.rows.keys()) {
        const events = store.readStream(code);
        expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
        expect(foldStream(events)).toEqual(opportunities.find(code));
      }

      expect(rebuildOpportunities(db)).toMatchObject({ opportunities: model.rows.size, events: eventCount(db) });
      expect(opportunityRows(db)).toEqual(live);
      expect(opportunities.list()).toEqual(model.list() as never);
    });
  }

  test("the writer keeps working after a rebuild replaced the table under its prepared statements", async () => {
    const { service, model } = await runRandomHistory(5, 120);
    rebuildOpportunities(service.db);
    rebuildOpportunities(service.db); // twice: the staging name must be free again
    const existing = [...model.rows.keys()][0]!;
    const result = await service.writer.execute(updateCommand({ opportunityCode: existing, description: "after rebuild" }), META);
    expect(result).toMatchObject({ ok: true, appended: 1 });
    expect(service.opportunities.find(existing)?.description).toBe("after rebuild");
    const created = await service.writer.execute(createCommand(createBody("AFTER-REBUILD")), META);
    expect(created).toMatchObject({ ok: true, id: model.rows.size + 1, appended: 1 });
    const live = opportunityRows(service.db);
    rebuildOpportunities(service.db);
    expect(opportunityRows(service.db)).toEqual(live);
  });

  test("rebuild repairs projection rows edited, deleted or invented with raw SQL", async () => {
    const { service, model } = await runRandomHistory(11, 80);
    const { db, opportunities } = service;
    const truth = opportunityRows(db);
    expect(truth.length).toBeGreaterThan(3);
    const [first, second] = [...model.rows.keys()];
    db.run("UPDATE opportunities SET opportunity_name = 'tampered', amount = -1, version = 99 WHERE code = ?", [first!]);
    db.run("DELETE FROM opportunities WHERE code = ?", [second!]);
    db.run("INSERT INTO opportunities (id, code, end_customer_name, version, created_at, updated_at) VALUES (9999, 'GHOST', 'x', 1, 'a', 'b')");
    expect(opportunities.find(first!)?.opportunityName).toBe("tampered");
    expect(opportunities.find(second!)).toBeNull();

    expect(rebuildOpportunities(db)).toMatchObject({ opportunities: model.rows.size, events: eventCount(db) });
    expect(opportunityRows(db)).toEqual(truth);
    expect(opportunities.find("GHOST")).toBeNull();
    expect(opportunities.list()).toEqual(model.list() as never);
  });

  test("rebuild on an empty store gives an empty table, dropping rows no event supports", () => {
    const { db, opportunities } = resources.service();
    expect(rebuildOpportunities(db)).toMatchObject({ opportunities: 0, events: 0 });
    expect(opportunityRows(db)).toEqual([]);
    db.run("INSERT INTO opportunities (id, code, end_customer_name, version, created_at, updated_at) VALUES (1, 'ORPHAN', 'x', 1, 'a', 'b')");
    expect(opportunities.count()).toBe(1);
    expect(rebuildOpportunities(db)).toMatchObject({ opportunities: 0, events: 0 });
    expect(opportunities.count()).toBe(0);
    const tables = db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'opportunities%' ORDER BY name").all();
    expect(tables.map((t) => t.name)).toEqual(["opportunities"]);
  });
});
