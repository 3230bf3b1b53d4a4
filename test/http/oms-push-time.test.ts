import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBackendService, type BackendService } from "../support/test-service";
import { createOpportunity, expectSuccess, readRecord, update } from "./http-client";

// omsPushTime arrives in the forms Java clients send and is stored as ISO 8601 in the zone (Asia/Shanghai).
let service: BackendService;

beforeAll(async () => {
  service = await startBackendService();
});
afterAll(() => service.dispose());

const STORED = "2026-04-30T10:20:30+08:00";

describe("omsPushTime", () => {
  test.each([
    ["yyyy-MM-dd HH:mm:ss in the configured zone", "2026-04-30 10:20:30"],
    ["ISO 8601 in UTC", "2026-04-30T02:20:30Z"],
    ["ISO 8601 with the +08:00 offset", "2026-04-30T10:20:30+08:00"],
    ["ISO 8601 with another offset", "2026-04-29T21:20:30-05:00"],
    ["ISO 8601 without an offset (configured zone)", "2026-04-30T10:20:30"],
    ["epoch milliseconds", 1777515630000],
  ])("%s is stored as 2026-04-30T10:20:30+08:00", async (label, value) => {
    const code = `OPP-TIME-${label.replace(/\W+/g, "-")}`;
    await createOpportunity(service, { opportunityCode: code });
    expectSuccess(await update(service, { opportunityCode: code, omsPushTime: value }));
    expect((await readRecord(service, code)).omsPushTime).toBe(STORED);
  });

  test("the same instant in another form is no change", async () => {
    await createOpportunity(service, { opportunityCode: "OPP-TIME-SAME", omsPushTime: "2026-04-30 10:20:30" });
    expectSuccess(await update(service, { opportunityCode: "OPP-TIME-SAME", omsPushTime: 1777515630000 }));
    expect((await readRecord(service, "OPP-TIME-SAME")).version).toBe(1);
  });
});
