import { afterAll, expect, test } from "bun:test";
import { startBackendService } from "../support/test-service";

// Counterexamples found by the property tests (test/property), kept as fixed cases so they never return.
const service = await startBackendService();
afterAll(() => service.dispose());

test("an object with a long integer and a non-function toString as the code: 200 with the field named, not 500", async () => {
  const response = await service.request("PUT", "/api/opportunities/integration/update", {
    rawBody: '{"opportunityCode":{"":-9007199254740992,"toString":false},"stage":"won"}',
  });
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({
    code: "-1",
    msg: 'opportunityCode 必须是字符串，收到: {"":-9007199254740992,"toString":false}',
    data: null,
  });
});
