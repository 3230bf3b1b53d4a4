import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync, existsSync } from "node:fs";
import { OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED } from "../../events/opportunity-events";
import { OTHER_CLIENT_SECRET, startTestService, TEST_SECRET } from "../support/test-service";
import {
  createBody,
  createCommand,
  eventRows,
  recanonicalize,
  Resources,
  SteppingClock,
  ULID_PATTERN,
  updateCommand,
  UTC_MILLIS_PATTERN,
} from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

describe("appending through the OpportunityWriter", () => {
  test("positions are global and gap-free, versions count per stream, ids are unique ULIDs", async () => {
    const { db, writer } = resources.service({ now: new SteppingClock().now });
    const meta = { actor: "oms", requestId: "req" };
    // Interleave three streams: A B A C B A.
    await writer.execute(createCommand(createBody("A")), meta);
    await writer.execute(createCommand(createBody("B")), meta);
    await writer.execute(updateCommand({ opportunityCode: "A", amount: 10 }), meta);
    await writer.execute(createCommand(createBody("C")), meta);
    await writer.execute(updateCommand({ opportunityCode: "B", stage: "bidding" }), meta);
    await writer.execute(updateCommand({ opportunityCode: "A", amount: 20 }), meta);

    const rows = eventRows(db);
    expect(rows.map((r) => r.position)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rows.map((r) => [r.stream_id, r.version])).toEqual([
      ["A", 1],
      ["B", 1],
      ["A", 2],
      ["C", 1],
      ["B", 2],
      ["A", 3],
    ]);
    expect(rows.map((r) => r.type)).toEqual([
      OPPORTUNITY_CREATED,
      OPPORTUNITY_CREATED,
      OPPORTUNITY_UPDATED,
      OPPORTUNITY_CREATED,
      OPPORTUNITY_UPDATED,
      OPPORTUNITY_UPDATED,
    ]);
    expect(rows.every((r) => r.schema_version === 1)).toBe(true);
    for (const row of rows) expect(row.event_id).toMatch(ULID_PATTERN);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(6);
    // One monotonic ULID factory per process: ids sort in append order.
    expect(rows.map((r) => r.event_id)).toEqual(rows.map((r) => r.event_id).sort());
  });

  test("recorded_at is the clock's instant as UTC ISO-8601 with milliseconds", async () => {
    const clock = new SteppingClock(Date.UTC(2026, 4, 6, 7, 8, 9, 0), 1);
    const { db, writer } = resources.service({ now: clock.now });
    const expected: string[] = [];
    for (const code of ["T1", "T2", "T3"]) {
      expected.push(clock.peek());
      await writer.execute(createCommand(createBody(code)), { actor: "oms", requestId: code });
    }
    const rows = eventRows(db);
    expect(rows.map((r) => r.recorded_at)).toEqual(["2026-05-06T07:08:09.000Z", "2026-05-06T07:08:09.001Z", "2026-05-06T07:08:09.002Z"]);
    expect(rows.map((r) => r.recorded_at)).toEqual(expected);
    for (const row of rows) expect(row.recorded_at).toMatch(UTC_MILLIS_PATTERN);
  });

  test("data and metadata are stored as canonical JSON with sorted keys", async () => {
    const { db, writer } = resources.service({ now: new SteppingClock().now });
    await writer.execute(
      createCommand(createBody("CANON", { stage: "lead", amount: 1.5, description: "x", archived: true, salesExpansionId: 9007199254740993n })),
      { requestId: "r-9", actor: "bidding", idempotencyKey: "k-1" },
    );
    await writer.execute(updateCommand({ opportunityCode: "CANON", stage: "won", amount: 2.25, projectLocation: "深圳" }), {
      requestId: "r-10",
      actor: "oms",
    });
    const rows = eventRows(db);
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.data).toBe(recanonicalize(row.data));
      expect(row.metadata).toBe(recanonicalize(row.metadata));
    }
    expect(rows[0]!.metadata).toBe('{"actor":"bidding","idempotencyKey":"k-1","requestId":"r-9"}');
    expect(rows[1]!.metadata).toBe('{"actor":"oms","requestId":"r-10"}');
    expect(rows[0]!.data).toBe(
      '{"amount":1.5,"archived":true,"description":"x","endCustomerName":"Customer of CANON","id":1,"opportunityCode":"CANON",' +
        '"opportunityName":"Name of CANON","pushedToOms":false,"salesExpansionId":9007199254740993,"stage":"lead","status":"active"}',
    );
    expect(rows[1]!.data).toBe(
      '{"changes":{"amount":2.25,"projectLocation":"深圳","stage":"won"},"previous":{"amount":1.5,"projectLocation":null,"stage":"lead"}}',
    );
  });

  test("through HTTP, metadata names the client and request id and never holds the secret", async () => {
    const service = startTestService({ now: new SteppingClock().now });
    resources.onDispose(() => service.dispose());
    const created = await service.request("POST", "/api/opportunities/integration/create", {
      body: createBody("HTTP-1"),
      headers: { "x-request-id": "create-req-1" },
    });
    expect(await created.json()).toEqual({ code: "0", msg: "success", data: 1 });
    const updated = await service.request("PUT", "/api/opportunities/integration/update", {
      body: { opportunityCode: "HTTP-1", stage: "won" },
      headers: { "x-request-id": "update-req-2", "x-internal-secret": OTHER_CLIENT_SECRET },
    });
    expect(await updated.json()).toEqual({ code: "0", msg: "success", data: 1 });

    const rows = eventRows(service.db);
    expect(rows.map((r) => JSON.parse(r.metadata))).toEqual([
      { actor: "oms", requestId: "create-req-1" },
      { actor: "bidding", requestId: "update-req-2" },
    ]);
    // Neither secret appears in any column, nor anywhere in the database or WAL file bytes.
    for (const row of rows) {
      const text = Object.values(row).join("\u0000");
      expect(text).not.toContain(TEST_SECRET);
      expect(text).not.toContain(OTHER_CLIENT_SECRET);
    }
    for (const file of [service.dbPath, `${service.dbPath}-wal`]) {
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file).toString("latin1");
      expect(bytes).not.toContain(TEST_SECRET);
      expect(bytes).not.toContain(OTHER_CLIENT_SECRET);
    }
  });
});
