/**
 * "Nothing lost", item 5 (B): any random sequence of valid creates and updates sent through the HTTP app
 * leaves a store equal to a plain in-memory model kept by this test: every GET answer and every projection
 * row, the number of events (one per create, one per update that really changes something), a rebuild of the
 * projection from the events alone (rows equal before and after), and verifyStore(db).ok.
 * The same property runs with concurrent requests (Promise.all over batches whose codes are distinct) so that
 * several requests are committed in one transaction (group commit).
 */
import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { rebuildOpportunities } from "../../src/storage/sqlite/projection-rebuild";
import { verifyStore } from "../../src/audit/verify-store";
import { CREATE_PATH, UPDATE_PATH, readPath, send } from "../http/http-client";
import { memoryTempParent } from "../support/temp-dir";
import { startTestService, type TestService } from "../support/test-service";
import {
  FIELD_KINDS,
  FIELD_NAMES,
  JsonPairs,
  check,
  columnOf,
  expectEnvelope,
  fcOptions,
  jsonText,
  paddedText,
  resendOf,
  validValue,
  type Envelope,
  type FieldName,
  type Sent,
  type Stored,
} from "./property-support";

/** The small pool of codes: creates collide with existing ones, updates hit missing ones. */
const POOL = ["OPP-M-001", "OPP-M-002", "OPP-模型-003", "OPP M 004", "OPP-M/005"] as const;

// ---------------------------------------------------------------------------------------------------------
// The model

interface ModelOpportunity {
  id: number;
  code: string;
  endCustomerName: string;
  version: number;
  fields: Record<FieldName, Stored>;
}

interface Model {
  opportunities: Map<string, ModelOpportunity>;
  /** Events the store must hold: one per create, one per update that changes a field. */
  events: number;
}

const emptyModel = (): Model => ({ opportunities: new Map(), events: 0 });

/** Defaults of a new opportunity that DESIGN.md's decider writes into the creation event. */
const CREATION_DEFAULTS: Partial<Record<FieldName, Stored>> = { status: "active", archived: false, pushedToOms: false };

// ---------------------------------------------------------------------------------------------------------
// Commands

type Change = { field: FieldName; sent: Sent } | { field: FieldName; same: true };

interface CreateCommand {
  kind: "create";
  code: number;
  pad: string;
  name: Sent;
  endCustomer: Sent;
  changes: { field: FieldName; sent: Sent }[];
  nulls: FieldName[];
}

interface UpdateCommand {
  kind: "update";
  code: number;
  pad: string;
  /** Fields sent with a new value, or (`same`) with the value already kept: a no-op. */
  changes: Change[];
  /** Fields sent as null: "not sent". */
  nulls: FieldName[];
}

type Command = CreateCommand | UpdateCommand;

const codeIndex = fc.integer({ min: 0, max: POOL.length - 1 });
const codePad = fc.constantFrom("", "", " ", "\t ");
const sentChange = (fields: readonly FieldName[]) => fc.constantFrom(...fields).chain((field) => validValue(field).map((sent) => ({ field, sent })));
const anyChange: fc.Arbitrary<Change> = fc.oneof(
  { weight: 3, arbitrary: sentChange(FIELD_NAMES) },
  { weight: 1, arbitrary: fc.constantFrom(...FIELD_NAMES).map((field): Change => ({ field, same: true })) },
);

const createCommand: fc.Arbitrary<Command> = fc.record({
  kind: fc.constant("create" as const),
  code: codeIndex,
  pad: codePad,
  name: validValue("opportunityName"),
  endCustomer: paddedText(200),
  changes: fc.uniqueArray(sentChange(FIELD_NAMES.filter((field) => field !== "opportunityName")), { selector: (change) => change.field, maxLength: 6 }),
  nulls: fc.subarray(FIELD_NAMES.filter((field) => field !== "opportunityName"), { maxLength: 3 }),
});

const updateWith = (changes: fc.Arbitrary<Change>): fc.Arbitrary<Command> =>
  fc.record({
    kind: fc.constant("update" as const),
    code: codeIndex,
    pad: codePad,
    changes: fc.uniqueArray(changes, { selector: (change) => change.field, minLength: 1, maxLength: 5 }),
    nulls: fc.subarray(FIELD_NAMES, { maxLength: 3 }),
  });
/** Every field sent again with the value it has: a success that appends nothing. */
const noOpUpdate = updateWith(fc.constantFrom(...FIELD_NAMES).map((field): Change => ({ field, same: true })));

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 2, arbitrary: createCommand },
  { weight: 5, arbitrary: updateWith(anyChange) },
  { weight: 1, arbitrary: noOpUpdate },
);

/** Some creates first (so most updates find their opportunity), then any commands. */
const commandSequence: fc.Arbitrary<Command[]> = fc
  .tuple(fc.uniqueArray(createCommand, { selector: (entry) => entry.code, maxLength: POOL.length - 1 }), fc.array(command, { minLength: 3, maxLength: 40, size: "medium" }))
  .map(([creates, rest]) => [...creates, ...rest]);

/** What the service must answer to a command, decided by the model alone. */
type Expected =
  | { ok: true; kind: "create"; version: 1; fields: Record<FieldName, Stored>; endCustomerName: string }
  | { ok: true; kind: "update"; id: number; version: number; fields: Record<FieldName, Stored> }
  | { ok: false; msg: string | { contains: string } };

interface Prepared {
  command: Command;
  code: string;
  body: string;
  expected: Expected;
}

/** The request body of a command and the outcome the model predicts, against the model's current state. */
function prepare(command: Command, model: Model): Prepared {
  const code = POOL[command.code]!;
  const current = model.opportunities.get(code);
  const pairs: [string, unknown][] = [["opportunityCode", command.pad + code + command.pad]];
  const sent = new Map<FieldName, Stored>();
  if (command.kind === "create") {
    pairs.push(["opportunityName", command.name.raw], ["endCustomerName", command.endCustomer.raw]);
    sent.set("opportunityName", command.name.stored);
  }
  const changed = new Set(command.changes.map((change) => change.field));
  for (const field of command.nulls) if (!changed.has(field)) pairs.push([field, null]);
  for (const change of command.changes) {
    if ("sent" in change) {
      pairs.push([change.field, change.sent.raw]);
      sent.set(change.field, change.sent.stored);
    } else if (current) {
      const raw = resendOf(change.field, current.fields[change.field]);
      if (raw === undefined) continue;
      pairs.push([change.field, raw]);
      sent.set(change.field, current.fields[change.field]);
    }
  }
  const body = jsonText(new JsonPairs(pairs));

  if (command.kind === "create") {
    if (current) return { command, code, body, expected: { ok: false, msg: { contains: code } } };
    const fields = {} as Record<FieldName, Stored>;
    for (const field of FIELD_NAMES) fields[field] = sent.get(field) ?? CREATION_DEFAULTS[field] ?? null;
    return { command, code, body, expected: { ok: true, kind: "create", version: 1, fields, endCustomerName: command.endCustomer.stored as string } };
  }
  if (sent.size === 0) return { command, code, body, expected: { ok: false, msg: "至少传入一个需要更新的字段" } };
  if (!current) return { command, code, body, expected: { ok: false, msg: "商机不存在" } };
  const fields = { ...current.fields };
  let changes = 0;
  for (const [field, value] of sent) {
    if (fields[field] !== value) changes += 1;
    fields[field] = value;
  }
  return { command, code, body, expected: { ok: true, kind: "update", id: current.id, version: current.version + (changes > 0 ? 1 : 0), fields } };
}

/** Checks one answer against the model's prediction and applies a success to the model. */
function settle(prepared: Prepared, envelope: Envelope, model: Model, createdId?: number): void {
  const { expected, code } = prepared;
  const what = `${prepared.command.kind} ${prepared.body.slice(0, 300)} -> HTTP ${envelope.status} ${JSON.stringify({ code: envelope.code, msg: envelope.msg, data: envelope.data })}`;
  if (!expected.ok) {
    check(envelope.status === 200 && envelope.code === "-1", `expected a refusal: ${what}`);
    if (typeof expected.msg === "string") check(envelope.msg === expected.msg, `expected ${expected.msg}: ${what}`);
    else check(envelope.msg.includes(expected.msg.contains), `expected a message naming ${expected.msg.contains}: ${what}`);
    return;
  }
  check(envelope.code === "0", `expected a success: ${what}`);
  check(envelope.headers.get("etag") === `"${expected.version}"`, `expected ETag "${expected.version}", got ${envelope.headers.get("etag")}: ${what}`);
  if (expected.kind === "create") {
    const id = createdId ?? model.opportunities.size + 1;
    check(envelope.data === id, `expected the new id ${id}: ${what}`);
    model.opportunities.set(code, { id, code, endCustomerName: expected.endCustomerName, version: 1, fields: expected.fields });
    model.events += 1;
  } else {
    check(envelope.data === expected.id, `expected the id ${expected.id}: ${what}`);
    const current = model.opportunities.get(code)!;
    if (expected.version !== current.version) model.events += 1;
    model.opportunities.set(code, { ...current, version: expected.version, fields: expected.fields });
  }
}

async function sendCommand(service: TestService, prepared: Prepared): Promise<Envelope> {
  const [method, path] = prepared.command.kind === "create" ? ["POST", CREATE_PATH] : ["PUT", UPDATE_PATH];
  return expectEnvelope(await send(service, method, path, { rawBody: prepared.body }), `${method} ${prepared.body.slice(0, 200)}`);
}

// ---------------------------------------------------------------------------------------------------------
// Comparing the store with the model

/** The record GET must answer for a model opportunity (timestamps aside). */
function expectedRecord(opportunity: ModelOpportunity): Record<string, unknown> {
  return { id: opportunity.id, opportunityCode: opportunity.code, endCustomerName: opportunity.endCustomerName, ...opportunity.fields, version: opportunity.version };
}

/** The projection row (as read with safeIntegers) for a model opportunity (timestamps aside). */
function expectedRow(opportunity: ModelOpportunity): Record<string, unknown> {
  const row: Record<string, unknown> = { id: BigInt(opportunity.id), code: opportunity.code, end_customer_name: opportunity.endCustomerName, version: BigInt(opportunity.version) };
  for (const field of FIELD_NAMES) {
    const value = opportunity.fields[field];
    const kind = FIELD_KINDS[field];
    row[columnOf(field)] = value === null ? null : kind === "boolean" ? (value ? 1n : 0n) : kind === "id" ? BigInt(value as number | bigint) : value;
  }
  return row;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** GET of one code against the model; answers its timestamps. */
async function expectReadMatches(service: TestService, model: Model, code: string): Promise<{ createdAt: unknown; updatedAt: unknown } | null> {
  const envelope = await expectEnvelope(await send(service, "GET", readPath(code)), `GET ${code}`);
  const opportunity = model.opportunities.get(code);
  if (!opportunity) {
    check(envelope.status === 200 && envelope.code === "-1" && envelope.msg === "商机不存在", `GET ${code}: the model has no such opportunity, the service answered ${envelope.code} ${envelope.msg}`);
    return null;
  }
  check(envelope.code === "0", `GET ${code} failed: ${envelope.msg}`);
  const { createdAt, updatedAt, ...record } = envelope.data as Record<string, unknown>;
  expect(record).toEqual(expectedRecord(opportunity));
  check(typeof createdAt === "string" && ISO_INSTANT.test(createdAt), `GET ${code}: createdAt ${String(createdAt)}`);
  check(typeof updatedAt === "string" && ISO_INSTANT.test(updatedAt) && updatedAt >= createdAt, `GET ${code}: updatedAt ${String(updatedAt)}`);
  check(envelope.headers.get("etag") === `"${opportunity.version}"`, `GET ${code}: ETag ${envelope.headers.get("etag")}`);
  return { createdAt, updatedAt };
}

const allRows = (service: TestService) => service.db.prepare("SELECT * FROM opportunities ORDER BY id").safeIntegers(true).all() as Record<string, unknown>[];
const rowsText = (rows: unknown) => JSON.stringify(rows, (_key, value) => (typeof value === "bigint" ? `${value}n` : value));

/** Every GET, every row, the events count, a rebuild and verifyStore, against the model. */
async function expectStoreMatchesModel(service: TestService, model: Model): Promise<void> {
  const times = new Map<string, { createdAt: unknown; updatedAt: unknown }>();
  for (const code of POOL) {
    const answered = await expectReadMatches(service, model, code);
    if (answered) times.set(code, answered);
  }

  const rows = allRows(service);
  const byId = [...model.opportunities.values()].sort((a, b) => a.id - b.id);
  expect(rows.map(({ created_at: _c, updated_at: _u, ...row }) => row)).toEqual(byId.map(expectedRow));
  for (const row of rows) {
    const answered = times.get(row.code as string);
    expect({ createdAt: row.created_at, updatedAt: row.updated_at }).toEqual(answered!);
  }

  const events = service.db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM events").get()!.n;
  check(events === model.events, `the store holds ${events} events, the model expects ${model.events}`);

  // The projection is only a cache of the events: rebuilt from them alone, it is the same, row for row.
  const before = rowsText(rows);
  expect(rebuildOpportunities(service.db)).toMatchObject({ opportunities: model.opportunities.size, events: model.events });
  expect(rowsText(allRows(service))).toBe(before);

  const report = verifyStore(service.db);
  check(report.ok, `verifyStore: ${JSON.stringify(report.problem)}`);
  expect(report.events).toBe(model.events);
}

// ---------------------------------------------------------------------------------------------------------

// The services the properties start, until each run disposes of its own. fast-check's time limit abandons the run
// in progress without waiting for it, so its `finally` may come after this file's last test: whatever is still
// open then is closed and its files removed here.
const running = new Set<TestService>();

/**
 * Each run writes a new store through the HTTP app, dozens of commits: in memory (tmpfs) where the system has
 * it, since what the properties compare (answers, rows, events, rebuild, verify) does not depend on the disk,
 * and on disk each commit's fsync waits behind every other suite make test runs (there the runs were cut short
 * by the time limit).
 */
const TEMP_PARENT = memoryTempParent();

function startService(): TestService {
  const service = startTestService({ tempParent: TEMP_PARENT });
  running.add(service);
  return service;
}

function stopService(service: TestService): void {
  running.delete(service);
  void service.dispose();
}

afterAll(async () => {
  await Promise.all([...running].map((service) => service.dispose()));
  running.clear();
});

describe("B. random valid writes: the store equals an in-memory model, its rebuild, and verifies", () => {
  test(
    "sequential creates and updates",
    async () => {
      await fc.assert(
        fc.asyncProperty(commandSequence, async (commands) => {
          const service = startService();
          try {
            const model = emptyModel();
            for (const next of commands) {
              const prepared = prepare(next, model);
              settle(prepared, await sendCommand(service, prepared), model);
              await expectReadMatches(service, model, prepared.code);
            }
            await expectStoreMatchesModel(service, model);
          } finally {
            stopService(service);
          }
        }),
        fcOptions(120, 14_000),
      );
    },
    20_000,
  );

  test(
    "concurrent batches (distinct codes within a batch) committed together",
    async () => {
      // How many commits held more than one event: the property must really exercise group commit.
      let groupedCommits = 0;
      const batch = fc.uniqueArray(command, { selector: (entry) => entry.code, minLength: 1, maxLength: POOL.length, size: "max" });
      await fc.assert(
        fc.asyncProperty(fc.array(batch, { minLength: 2, maxLength: 10, size: "medium" }), async (batches) => {
          const service = startService();
          service.writer.onCommit = (_seconds, eventTypes) => {
            if (eventTypes.length > 1) groupedCommits += 1;
          };
          try {
            const model = emptyModel();
            for (const commands of batches) {
              // Codes differ within a batch, so every outcome follows from the state before it, except which
              // new id each create gets: that depends on the order the writer takes them in.
              const prepared = commands.map((entry) => prepare(entry, model));
              const envelopes = await Promise.all(prepared.map((entry) => sendCommand(service, entry)));
              const firstNewId = model.opportunities.size + 1;
              const newIds = prepared.flatMap((entry, index) => (entry.expected.ok && entry.expected.kind === "create" ? [envelopes[index]!.data] : []));
              const sorted = [...newIds].sort((a, b) => Number(a) - Number(b));
              expect(sorted).toEqual(newIds.map((_id, index) => firstNewId + index));
              prepared.forEach((entry, index) => settle(entry, envelopes[index]!, model, envelopes[index]!.data as number));
            }
            await expectStoreMatchesModel(service, model);
          } finally {
            stopService(service);
          }
        }),
        fcOptions(120, 14_000),
      );
      expect(groupedCommits).toBeGreaterThan(0);
    },
    20_000,
  );
});
