import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, call, createOpportunity, expectSuccess, readRecord, streamOf, update } from "./http-client";

// Requests handled at the same time must not lose an update or break the version sequence.
let service: BackendService;

beforeAll(async () => {
  service = await startBackendService();
});
afterAll(() => service.dispose());

describe("concurrent updates", () => {
  test("twenty updates in flight at once all land, each as its own event", async () => {
    const id = await createOpportunity(service, { opportunityCode: "OPP-CONC-001", amount: 1 });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, index) => update(service, { opportunityCode: "OPP-CONC-001", amount: index + 2 })),
    );
    for (const answer of answers) expect(expectSuccess(answer)).toBe(id);
    const events = await streamOf(service, "OPP-CONC-001");
    expect(events.map((event) => event.version)).toEqual(Array.from({ length: 21 }, (_, index) => index + 1));
    // Each event's previous value is the one the event before it set.
    for (let index = 2; index < events.length; index += 1) {
      const before = (events[index - 1]!.data as { changes: { amount: number } }).changes.amount;
      expect((events[index]!.data as { previous: { amount: number } }).previous.amount).toBe(before);
    }
    const last = (events.at(-1)!.data as { changes: { amount: number } }).changes.amount;
    expect(await readRecord(service, "OPP-CONC-001")).toMatchObject({ amount: last, version: 21 });
  });

  test("two creates of the same code at once: one succeeds, the other is told the code exists", async () => {
    const answers = await Promise.all(
      [0, 1].map(() => call(service, "POST", CREATE_PATH, { body: { opportunityCode: "OPP-CONC-002", opportunityName: "n", endCustomerName: "c" } })),
    );
    const messages = answers.map((answer) => answer.json.msg).sort();
    expect(messages).toEqual(["success", "商机编号已存在: OPP-CONC-002"].sort());
    expect(await streamOf(service, "OPP-CONC-002")).toHaveLength(1);
  });
});
