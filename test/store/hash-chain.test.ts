import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED } from "../../events/opportunity-events";
import {
  appendEvents,
  auditorHash,
  chainProblems,
  createBody,
  createCommand,
  eventRows,
  GENESIS,
  META,
  recanonicalize,
  Resources,
  SteppingClock,
  updateCommand,
} from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

async function writeSomeHistory(service: ReturnType<Resources["service"]>): Promise<void> {
  const meta = { actor: "oms", requestId: "chain" };
  await service.writer.execute(createCommand(createBody("H-1", { amount: 100, salesExpansionId: 9223372036854775807n })), meta);
  await service.writer.execute(createCommand(createBody("H-2", { description: "引号 \" 和 \\ 反斜杠\n换行" })), meta);
  await service.writer.execute(updateCommand({ opportunityCode: "H-1", stage: "negotiation", confidencePct: "b" }), meta);
  await service.writer.executeMany([
    { command: updateCommand({ opportunityCode: "H-2", description: "" }), metadata: { actor: "import", requestId: "f:1" } },
    { command: createCommand(createBody("H-3")), metadata: { actor: "import", requestId: "f:2" } },
  ]);
}

describe("hash chain", () => {
  test("first prev_hash is 64 zeros and every prev_hash is the previous row's hash", async () => {
    const service = resources.service({ now: new SteppingClock().now });
    await writeSomeHistory(service);
    const rows = eventRows(service.db);
    expect(rows).toHaveLength(5);
    expect(rows[0]!.prev_hash).toBe(GENESIS);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
    for (const row of rows) expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(rows.map((r) => r.hash)).size).toBe(5);
  });

  test("every hash recomputes independently with node:crypto from the stored columns", async () => {
    const service = resources.service({ now: new SteppingClock().now });
    await writeSomeHistory(service);
    const rows = eventRows(service.db);
    for (const row of rows) expect(auditorHash(row)).toBe(row.hash);
    expect(chainProblems(rows)).toEqual([]);

    // The first row spelled out by hand, so the auditor's own recipe is checked too.
    const first = rows[0]!;
    const text =
      `${GENESIS}\n{"data":${JSON.stringify(first.data)},"event_id":${JSON.stringify(first.event_id)},` +
      `"metadata":${JSON.stringify(first.metadata)},"position":1,"recorded_at":${JSON.stringify(first.recorded_at)},` +
      `"schema_version":1,"stream_id":"H-1","type":"OpportunityCreated","version":1}`;
    expect(createHash("sha256").update(text).digest("hex")).toBe(first.hash);
  });

  test("several events appended in one call are chained to each other too", () => {
    const { db, storage } = resources.bareStore();
    const created = { type: OPPORTUNITY_CREATED, data: { id: 1, opportunityCode: "M", endCustomerName: "C" } };
    const changed = (n: number) => ({ type: OPPORTUNITY_UPDATED, data: { changes: { amount: n }, previous: {} } });
    const clock = new SteppingClock();
    appendEvents(storage, [{ streamId: "M", expectedVersion: 0, events: [created, changed(1), changed(2)] }], META, clock.now());
    appendEvents(
      storage,
      [
        { streamId: "N", expectedVersion: 0, events: [{ ...created, data: { ...created.data, id: 2, opportunityCode: "N" } }] },
        { streamId: "M", expectedVersion: 3, events: [changed(3), changed(4)] },
      ],
      META,
      clock.now(),
    );
    const rows = eventRows(db);
    expect(rows.map((r) => [r.position, r.stream_id, r.version])).toEqual([
      [1, "M", 1],
      [2, "M", 2],
      [3, "M", 3],
      [4, "N", 1],
      [5, "M", 4],
      [6, "M", 5],
    ]);
    expect(rows.map((r) => r.prev_hash)).toEqual([GENESIS, ...rows.slice(0, -1).map((r) => r.hash)]);
    expect(chainProblems(rows)).toEqual([]);
  });

  test("head() is the last row's position and hash", async () => {
    const service = resources.service({ now: new SteppingClock().now });
    expect(service.store.head()).toBeNull();
    await writeSomeHistory(service);
    const rows = eventRows(service.db);
    expect(service.store.head()).toEqual({ position: 5, hash: rows[4]!.hash });
  });

  test("the auditor's check detects a row changed behind the triggers' back", async () => {
    const service = resources.service({ now: new SteppingClock().now });
    await writeSomeHistory(service);
    service.close();
    // Someone with file access drops the trigger and edits history.
    const tamper = new Database(service.path);
    resources.onDispose(() => tamper.close());
    tamper.run("DROP TRIGGER events_no_update");
    tamper.run(`UPDATE events SET data = replace(data, '"amount":100', '"amount":1') WHERE position = 1`);
    const rows = eventRows(tamper);
    expect(rows[0]!.data).toContain('"amount":1,');
    expect(chainProblems(rows)).toEqual(["position 1: hash does not recompute"]);
  });

  test("recanonicalize (used to check stored JSON) rejects non-canonical text", () => {
    expect(recanonicalize('{"b":1,"a":2}')).toBe('{"a":2,"b":1}');
    expect(recanonicalize('{ "a" : 1.50 }')).toBe('{"a":1.5}');
    expect(recanonicalize('{"id":9223372036854775807}')).toBe('{"id":9223372036854775807}');
  });
});
