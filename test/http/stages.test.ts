import { afterAll, describe, expect, test } from "bun:test";
import { DEFAULT_STAGES, StageDictionary } from "../../src/stage-dictionary";
import { openTestBackend } from "../support/test-backend";
import { AUDITOR_SECRET, TEST_SECRET, createTestApp } from "../support/test-service";

// GET /api/stages answers the dictionary in force, so integrators can see the codes after an operator reloads it.
const backend = await openTestBackend();
let stages = new StageDictionary(DEFAULT_STAGES);
// The test clients, with this file's dictionary, which a test replaces as a reload does.
const app = createTestApp(backend, { stages: () => stages });

afterAll(() => backend.dispose());

const get = async (secret: string | null) => {
  const response = await app.handle(new Request("http://localhost/api/stages", { headers: secret ? { "x-internal-secret": secret } : {} }));
  return { status: response.status, body: (await response.json()) as { code: string; msg: string; data: unknown } };
};

describe("GET /api/stages", () => {
  test("answers the built-in dictionary, codes and labels, to integrators and auditors", async () => {
    for (const secret of [TEST_SECRET, AUDITOR_SECRET]) {
      const answer = await get(secret);
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ code: "0", msg: "success", data: DEFAULT_STAGES.map((stage) => ({ code: stage.code, label: stage.label })) });
    }
  });

  test("needs a secret", async () => {
    expect(await get(null)).toEqual({ status: 401, body: { code: "-1", msg: "内部接口鉴权失败", data: null } });
  });

  test("follows a reloaded dictionary, and updates are checked against it", async () => {
    stages = new StageDictionary([
      { code: "open", label: "进行中" },
      { code: "done", label: "完成" },
    ]);
    expect((await get(TEST_SECRET)).body.data).toEqual([
      { code: "open", label: "进行中" },
      { code: "done", label: "完成" },
    ]);
    const create = await app.handle(
      new Request("http://localhost/api/opportunities/integration/create", {
        method: "POST",
        headers: { "content-type": "application/json", "x-internal-secret": TEST_SECRET },
        body: JSON.stringify({ opportunityCode: "STG-1", opportunityName: "n", endCustomerName: "c", stage: "won" }),
      }),
    );
    expect(await create.json()).toEqual({ code: "-1", msg: "项目阶段无效: won", data: null });
  });
});
