/**
 * Rows altered behind the service's back (verify names them) must still be readable: the history route, the
 * event feed and the point-in-time reads answer without a 500, and the history command prints them without
 * crashing, marking what it cannot read. The rows are planted directly in SQLite under a running service, so
 * this suite runs on SQLite only (not in the Makefile's BACKEND_NEUTRAL_SUITES).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { history } from "../../src/cli/history";
import { captureCli } from "../support/cli-output";
import { startTestService, TIME_ZONE, type TestService } from "../support/test-service";
import { rehashFrom, tamper } from "./audit-fixture";

let service: TestService;

// Position: what is planted there (ODD-1 holds positions 1-9, ODD-2 and ODD-3 one event each).
const PLANTED: [number, string][] = [
  [2, "UPDATE events SET metadata = 'null' WHERE position = 2"],
  [3, "UPDATE events SET recorded_at = 'not-a-date' WHERE position = 3"],
  [4, "UPDATE events SET data = 'not json' WHERE position = 4"],
  [5, "UPDATE events SET data = 'null' WHERE position = 5"],
  [6, `UPDATE events SET data = '{"changes":5,"previous":[]}', metadata = '[1]' WHERE position = 6`],
  [7, `UPDATE events SET data = '{"changes":{"amount":1e999,"description":{"nested":true}},"previous":{}}' WHERE position = 7`],
  [8, "UPDATE events SET data = CAST(data AS BLOB), version = '8' WHERE position = 8"],
  [9, `UPDATE events SET metadata = '{"actor":7,"requestId":null}', recorded_at = 12345 WHERE position = 9`],
  [10, "UPDATE events SET data = 'null' WHERE position = 10"],
  [11, "UPDATE events SET type = 'OpportunityUpdated' WHERE position = 11"],
];

const create = (code: string) => service.request("POST", "/api/opportunities/integration/create", { body: { opportunityCode: code, opportunityName: code, endCustomerName: "客户" } });

beforeAll(async () => {
  service = startTestService();
  expect((await create("ODD-1")).status).toBe(200);
  for (let n = 2; n <= 9; n++) {
    const response = await service.request("PUT", "/api/opportunities/integration/update", { body: { opportunityCode: "ODD-1", amount: n } });
    expect(((await response.json()) as { code: string }).code).toBe("0");
  }
  await create("ODD-2");
  await create("ODD-3");
  tamper(service.dbPath, (db) => {
    for (const [, sql] of PLANTED) expect(db.run(sql).changes).toBe(1);
    rehashFrom(db, 2);
  });
});
afterAll(() => service.dispose());

async function get(path: string): Promise<{ status: number; body: { code: string; msg: string; data: any } }> {
  const response = await service.request("GET", path);
  return { status: response.status, body: (await response.json()) as { code: string; msg: string; data: any } };
}

describe("over HTTP", () => {
  test("the history answers every event, with what it cannot read marked", async () => {
    const { status, body } = await get("/api/opportunities/ODD-1/history");
    expect(status).toBe(200);
    expect(body.code).toBe("0");
    const items = body.data.items as { position: number; actor: string; requestId: string; recordedAt: string; changes: unknown[] }[];
    expect(items.map((item) => item.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(items[1]).toMatchObject({ actor: "(unreadable)", requestId: "(unreadable)" });
    expect(items[2]!.recordedAt).toBe("not-a-date");
    expect(items[3]!.changes).toEqual([]);
    expect(items[6]!.changes).toEqual([
      { field: "amount", from: null, to: null },
      { field: "description", from: null, to: { nested: true } },
    ]);
    expect(items[8]).toMatchObject({ actor: "(unreadable)", requestId: "(unreadable)", recordedAt: "12345" });
  });

  test("the event feed answers every event, an unreadable column as its stored text", async () => {
    const { status, body } = await get("/api/events?after=0&limit=1000");
    expect(status).toBe(200);
    const events = body.data.events as { position: number; data: unknown; metadata: unknown }[];
    expect(events).toHaveLength(11);
    expect(events[1]!.metadata).toBeNull();
    expect(events[3]!.data).toBe("not json");
  });

  test("every version and instant of the altered streams answers without a 500", async () => {
    for (let version = 1; version <= 9; version++) {
      const { status, body } = await get(`/api/opportunities/ODD-1?version=${version}`);
      expect({ version, status, code: body.code }).toEqual({ version, status: 200, code: "0" });
    }
    for (const path of ["/api/opportunities/ODD-1?asOf=2100-01-01", "/api/opportunities/ODD-2?version=1", "/api/opportunities/ODD-3?version=1", "/api/opportunities/ODD-1"]) {
      expect({ path, status: (await get(path)).status }).toEqual({ path, status: 200 });
    }
  });
});

describe("the history command", () => {
  test("prints every event, marking what it cannot read, and exits 0", async () => {
    const result = await captureCli(() => history(["ODD-1", "--db", service.dbPath, "--time-zone", TIME_ZONE], {}));
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("ODD-1: 9 event(s)");
    expect(result.stdout).toContain("by (unreadable)  (position 2, request (unreadable))");
    expect(result.stdout).toContain("not-a-date (not a time)");
    expect(result.stdout).toMatch(/description +— → \{"nested":true\}/);
    for (const version of [1, 2, 3, 4, 5, 6, 7, 8, 9]) expect(result.stdout).toContain(`\nv${version}  `);
  });
});
