/**
 * Seeded random sequences of creates and updates written through the real write path, with a plain-object
 * model of every opportunity kept alongside: after each write that appends an event, the model takes a
 * snapshot (version, time, metadata, whole state). The audit tests compare the store's answers with it.
 */
import { expect } from "bun:test";
import { OPPORTUNITY_FIELD_NAMES, type EventMetadata, type FieldValue, type OpportunityField } from "../../events/opportunity-events";
import type { Opportunity } from "../../projections/opportunity-state";
import type { OpportunityCommand } from "../../src/commands";
import type { GroupCommit } from "../../src/write/group-commit";
import { DEFAULT_STAGES } from "../../src/stage-dictionary";
import { createBody, createCommand, updateCommand, type SteppingClock } from "../store/store-fixture";
import { pick, prng } from "./audit-fixture";

/** A value a client may send, with the value the store is expected to keep (null: no value). */
type Choice = readonly [raw: unknown, stored: FieldValue];

const optionalText = (values: string[]): Choice[] => [["", null], ...values.map((v): Choice => [v, v]), [`  ${values[0]}  `, values[0]!]];

/** The fields the random sequences touch, with their choices. */
export const CHOICES: Partial<Record<OpportunityField, Choice[]>> = {
  opportunityName: [
    ["Alpha", "Alpha"],
    ["  Beta ", "Beta"],
    ["商机一号", "商机一号"],
  ],
  projectLocation: optionalText(["北京", "上海"]),
  description: optionalText(["备注 1", "引号 \" 和 \\ 反斜杠", "note"]),
  competitorName: optionalText(["华为", "H3C"]),
  amount: [
    [1, 1],
    [99.5, 99.5],
    [12345.67, 12345.67],
    [2800000, 2800000],
  ],
  expectedCloseDate: [
    ["2026-12-31", "2026-12-31"],
    ["2024-02-29", "2024-02-29"],
  ],
  confidencePct: [
    ["a", "A"],
    ["B", "B"],
    [" c ", "C"],
  ],
  stage: DEFAULT_STAGES.map((s): Choice => [s.code, s.code]).concat([[DEFAULT_STAGES[2]!.label, DEFAULT_STAGES[2]!.code]]),
  status: [
    ["active", "active"],
    ["closed", "closed"],
    ["WON", "won"],
    ["lost", "lost"],
  ],
  preSalesId: [
    [42, 42],
    ["77", 77],
    [9007199254740993n, 9007199254740993n],
    [9223372036854775807n, 9223372036854775807n],
  ],
  archived: [
    [true, true],
    [false, false],
  ],
  pushedToOms: [
    [true, true],
    [false, false],
  ],
};
const CHOICE_FIELDS = Object.keys(CHOICES) as OpportunityField[];

/** What the store should hold after one appended event. */
export interface Snapshot {
  version: number;
  recordedAt: string;
  metadata: EventMetadata;
  /** The whole opportunity after this event. */
  state: Opportunity;
  /** The field values the event's command sent, as stored (for the history check). */
  sent: Partial<Record<OpportunityField, FieldValue>>;
}

export interface RandomHistory {
  /** Snapshots per opportunity code, one per event, in version order. */
  snapshots: Map<string, Snapshot[]>;
  events: number;
  /** The instants of the first and the last write. */
  firstMs: number;
  lastMs: number;
}

const CREATION_DEFAULTS: Partial<Record<OpportunityField, FieldValue>> = { status: "active", archived: false, pushedToOms: false };

function emptyState(): Record<OpportunityField, FieldValue> {
  const fields = {} as Record<OpportunityField, FieldValue>;
  for (const name of OPPORTUNITY_FIELD_NAMES) fields[name] = null;
  return fields;
}

/** Some random fields with random choices: the raw body part and the values expected to be stored. */
function randomFields(random: () => number, min: number): { body: Record<string, unknown>; stored: Partial<Record<OpportunityField, FieldValue>> } {
  const body: Record<string, unknown> = {};
  const stored: Partial<Record<OpportunityField, FieldValue>> = {};
  const count = min + pick(random, 3);
  for (let i = 0; i < count; i++) {
    const field = CHOICE_FIELDS[pick(random, CHOICE_FIELDS.length)]!;
    const choices = CHOICES[field]!;
    const [raw, value] = choices[pick(random, choices.length)]!;
    body[field] = raw;
    stored[field] = value;
  }
  return { body, stored };
}

/**
 * Runs `writes` random write calls (each one `execute`, or sometimes an `executeMany` of 2–3 commands sharing
 * one transaction and so one recorded_at), checking each result against the model as it goes.
 */
export async function runRandomHistory(service: { writer: Pick<GroupCommit, "execute" | "executeMany"> }, clock: SteppingClock, seed: number, writes: number): Promise<RandomHistory> {
  const random = prng(seed);
  const model = new Map<string, Opportunity>();
  const snapshots = new Map<string, Snapshot[]>();
  const actors = ["oms", "bidding", "import"];
  let nextId = 1;
  let created = 0;
  let events = 0;
  let firstMs = 0;
  let lastMs = 0;

  for (let call = 0; call < writes; call++) {
    const at = clock.peek();
    if (call === 0) firstMs = Date.parse(at);
    lastMs = Date.parse(at);
    const batchSize = random() < 0.2 ? 2 + pick(random, 2) : 1;
    const items: { command: OpportunityCommand; metadata: EventMetadata; expect: { ok: boolean; appended: number } }[] = [];

    for (let i = 0; i < batchSize; i++) {
      const metadata: EventMetadata = { actor: actors[pick(random, actors.length)]!, requestId: `req-${seed}-${call}-${i}` };
      const codes = [...model.keys()];
      const roll = random();
      if (codes.length === 0 || roll < 0.15) {
        // A new opportunity.
        created += 1;
        const code = `P${seed}-${created}`;
        const { body, stored } = randomFields(random, 0);
        const state = { ...emptyState(), id: nextId, opportunityCode: code, endCustomerName: `Customer of ${code}`, version: 1, createdAt: at, updatedAt: at } as Opportunity;
        state.opportunityName = `Name of ${code}`;
        for (const [field, value] of Object.entries(CREATION_DEFAULTS)) state[field as OpportunityField] = value!;
        for (const [field, value] of Object.entries(stored)) {
          const name = field as OpportunityField;
          state[name] = value ?? CREATION_DEFAULTS[name] ?? null;
        }
        nextId += 1;
        model.set(code, state);
        snapshots.set(code, [{ version: 1, recordedAt: at, metadata, state: structuredClone(state), sent: stored }]);
        items.push({ command: createCommand(createBody(code, body)), metadata, expect: { ok: true, appended: 1 } });
      } else if (roll < 0.2) {
        // The same code created again: rejected, nothing appended.
        const code = codes[pick(random, codes.length)]!;
        items.push({ command: createCommand(createBody(code)), metadata, expect: { ok: false, appended: 0 } });
      } else if (roll < 0.25) {
        // An update of an opportunity that does not exist: rejected, nothing appended.
        items.push({ command: updateCommand({ opportunityCode: `NOPE-${seed}-${call}`, amount: 5 }), metadata, expect: { ok: false, appended: 0 } });
      } else {
        const code = codes[pick(random, codes.length)]!;
        const { body, stored } = randomFields(random, 1);
        const before = model.get(code)!;
        const after: Opportunity = { ...before };
        let changed = false;
        for (const [field, value] of Object.entries(stored)) {
          const name = field as OpportunityField;
          if (after[name] !== value) {
            after[name] = value!;
            changed = true;
          }
        }
        if (changed) {
          after.version += 1;
          after.updatedAt = at;
          model.set(code, after);
          snapshots.get(code)!.push({ version: after.version, recordedAt: at, metadata, state: structuredClone(after), sent: stored });
        }
        items.push({ command: updateCommand({ opportunityCode: code, ...body }), metadata, expect: { ok: true, appended: changed ? 1 : 0 } });
      }
    }

    const results =
      items.length === 1
        ? [await service.writer.execute(items[0]!.command, items[0]!.metadata)]
        : await service.writer.executeMany(items.map(({ command, metadata }) => ({ command, metadata })));
    results.forEach((result, index) => {
      const wanted = items[index]!.expect;
      expect({ call, index, ok: result.ok, appended: result.appended ?? 0 }).toEqual({ call, index, ...wanted });
      events += wanted.appended;
    });
  }
  return { snapshots, events, firstMs, lastMs };
}

/** The model's state at an instant (inclusive): the last snapshot recorded at or before it, or null. */
export function modelAt(snapshots: readonly Snapshot[], ms: number): Opportunity | null {
  let state: Opportunity | null = null;
  for (const snapshot of snapshots) if (Date.parse(snapshot.recordedAt) <= ms) state = snapshot.state;
  return state;
}
