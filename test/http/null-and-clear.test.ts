import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBackendService, type BackendService } from "../support/test-service";
import { createOpportunity, expectSuccess, readRecord, snapshot, streamOf, update } from "./http-client";

// null means "not sent"; "" clears an optional text field and is an error for the others (see bad-input).
let service: BackendService;

beforeAll(async () => {
  service = await startBackendService();
});
afterAll(() => service.dispose());

const OPTIONAL_TEXT = ["projectLocation", "operatorName", "competitorName", "preSalesName", "description", "opportunityType", "productType", "source"] as const;

describe("null means not sent", () => {
  test("{stage: won, amount: null} changes only the stage", async () => {
    const id = await createOpportunity(service, { opportunityCode: "OPP-NULL-001", stage: "solution", amount: 1500000, description: "原备注" });
    const answer = await update(service, { opportunityCode: "OPP-NULL-001", stage: "won", amount: null });
    expect(expectSuccess(answer)).toBe(id);
    const events = await streamOf(service, "OPP-NULL-001");
    expect(events).toHaveLength(2);
    expect(events[1]!.data).toEqual({ changes: { stage: "won" }, previous: { stage: "solution" } });
    expect(await readRecord(service, "OPP-NULL-001")).toMatchObject({ stage: "won", amount: 1500000, description: "原备注", version: 2 });
  });

  test("null for every kind of field leaves each one as it was", async () => {
    const fields = {
      opportunityName: "原名称",
      projectLocation: "上海",
      amount: 10,
      expectedCloseDate: "2026-05-01",
      confidencePct: "B",
      salesExpansionId: 7,
      archived: true,
      omsPushTime: "2026-04-30T10:20:30+08:00",
      description: "原备注",
    };
    await createOpportunity(service, { opportunityCode: "OPP-NULL-002", ...fields });
    const nulls = Object.fromEntries(Object.keys(fields).map((name) => [name, null]));
    const answer = await update(service, { opportunityCode: "OPP-NULL-002", ...nulls, status: "closed" });
    expectSuccess(answer);
    expect((await streamOf(service, "OPP-NULL-002"))[1]!.data).toEqual({ changes: { status: "closed" }, previous: { status: "active" } });
    expect(await readRecord(service, "OPP-NULL-002")).toMatchObject({ ...fields, status: "closed" });
  });
});

describe("\"\" clears an optional text field", () => {
  test("description \"\" becomes null in GET, recorded with its previous value", async () => {
    await createOpportunity(service, { opportunityCode: "OPP-CLEAR-001", description: "外部系统回写成交结果" });
    expectSuccess(await update(service, { opportunityCode: "OPP-CLEAR-001", description: "" }));
    const record = await readRecord(service, "OPP-CLEAR-001");
    expect(record.description).toBeNull();
    expect((await streamOf(service, "OPP-CLEAR-001"))[1]!.data).toEqual({
      changes: { description: null },
      previous: { description: "外部系统回写成交结果" },
    });
  });

  test.each(OPTIONAL_TEXT.map((field) => [field]))("%s \"\" clears it", async (field) => {
    const code = `OPP-CLEAR-${field}`;
    await createOpportunity(service, { opportunityCode: code, [field]: "旧值" });
    expect((await readRecord(service, code))[field]).toBe("旧值");
    expectSuccess(await update(service, { opportunityCode: code, [field]: "" }));
    expect((await readRecord(service, code))[field]).toBeNull();
  });

  test("spaces only count as \"\" (values are trimmed)", async () => {
    await createOpportunity(service, { opportunityCode: "OPP-CLEAR-002", projectLocation: "北京" });
    expectSuccess(await update(service, { opportunityCode: "OPP-CLEAR-002", projectLocation: "   " }));
    expect((await readRecord(service, "OPP-CLEAR-002")).projectLocation).toBeNull();
  });

  test("clearing a field that is already empty succeeds and appends nothing", async () => {
    await createOpportunity(service, { opportunityCode: "OPP-CLEAR-003" });
    const before = await snapshot(service);
    expectSuccess(await update(service, { opportunityCode: "OPP-CLEAR-003", description: "" }));
    expect(await snapshot(service)).toEqual(before);
  });
});

describe("values are normalised before they are compared and stored", () => {
  test("text is trimmed, confidence upper-cased, status lower-cased, a stage label becomes its code", async () => {
    await createOpportunity(service, { opportunityCode: "OPP-NORM-001" });
    expectSuccess(
      await update(service, { opportunityCode: "OPP-NORM-001", opportunityName: "  新名称  ", confidencePct: "c", status: "WON", stage: "商务谈判" }),
    );
    expect(await readRecord(service, "OPP-NORM-001")).toMatchObject({ opportunityName: "新名称", confidencePct: "C", status: "won", stage: "negotiation" });
    // The same values in another spelling change nothing.
    const before = await snapshot(service);
    expectSuccess(await update(service, { opportunityCode: "OPP-NORM-001", opportunityName: "新名称 ", confidencePct: "C", status: "won", stage: "negotiation" }));
    expect(await snapshot(service)).toEqual(before);
  });
});
