import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, call, expectFailure, expectSuccess, readRecord, reasonsOf, snapshot, streamOf } from "./http-client";

let service: BackendService;

beforeAll(async () => {
  service = await startBackendService();
});
afterAll(() => service.dispose());

const create = (body: unknown) => call(service, "POST", CREATE_PATH, { body });

describe("POST /api/opportunities/integration/create", () => {
  test("answers the new id, increasing by one per opportunity", async () => {
    const ids: unknown[] = [];
    for (const code of ["OPP-C-001", "OPP-C-002", "OPP-C-003"]) {
      const answer = await create({ opportunityCode: code, opportunityName: `商机 ${code}`, endCustomerName: "某客户" });
      expect(answer.text).toBe(`{"code":"0","msg":"success","data":${ids.length + 1}}`);
      ids.push(expectSuccess(answer));
    }
    expect(ids).toEqual([1, 2, 3]);
  });

  test("records an OpportunityCreated event with the end customer, the fields sent and the defaults", async () => {
    const id = expectSuccess(
      await create({ opportunityCode: "OPP-C-010", opportunityName: "带字段", endCustomerName: "某市医院", stage: "赢单", confidencePct: "b", amount: 99 }),
    );
    const [created] = await streamOf(service, "OPP-C-010");
    expect(created!.type).toBe("OpportunityCreated");
    expect(created!.metadata.actor).toBe("oms");
    expect(created!.data).toEqual({
      id,
      opportunityCode: "OPP-C-010",
      endCustomerName: "某市医院",
      opportunityName: "带字段",
      stage: "won",
      confidencePct: "B",
      amount: 99,
      status: "active",
      archived: false,
      pushedToOms: false,
    });
    expect(await readRecord(service, "OPP-C-010")).toMatchObject({ id, endCustomerName: "某市医院", stage: "won", confidencePct: "B" });
  });

  test.each([
    ["opportunityCode missing", { opportunityName: "n", endCustomerName: "c" }, ["opportunityCode 不能为空"]],
    ["opportunityCode blank", { opportunityCode: "   ", opportunityName: "n", endCustomerName: "c" }, ["opportunityCode 不能为空"]],
    ["opportunityName missing", { opportunityCode: "OPP-C-100", endCustomerName: "c" }, ["opportunityName 不能为空"]],
    ["opportunityName blank", { opportunityCode: "OPP-C-100", opportunityName: " ", endCustomerName: "c" }, ["opportunityName 不能为空"]],
    ["endCustomerName missing", { opportunityCode: "OPP-C-100", opportunityName: "n" }, ["endCustomerName 不能为空"]],
    ["endCustomerName null", { opportunityCode: "OPP-C-100", opportunityName: "n", endCustomerName: null }, ["endCustomerName 不能为空"]],
    ["all three missing", { stage: "won" }, ["opportunityCode 不能为空", "opportunityName 不能为空", "endCustomerName 不能为空"]],
    // GET /api/opportunities/. is /api/opportunities/ to every URL parser: such an opportunity could never be read.
    ["opportunityCode a dot segment", { opportunityCode: " . ", opportunityName: "n", endCustomerName: "c" }, ["opportunityCode 不能是 .（URL 路径会把它当作目录，无法按编号查询）"]],
    ["opportunityCode two dots", { opportunityCode: "..", opportunityName: "n", endCustomerName: "c" }, ["opportunityCode 不能是 ..（URL 路径会把它当作目录，无法按编号查询）"]],
  ])("%s is rejected and nothing is stored", async (_label, body, reasons) => {
    const before = await snapshot(service);
    const answer = await create(body);
    expectFailure(answer, 200);
    expect(reasonsOf(answer.json.msg).sort()).toEqual([...reasons].sort());
    expect(await snapshot(service)).toEqual(before);
  });

  test("a duplicate code is rejected naming the code, and nothing is stored", async () => {
    const before = await snapshot(service);
    const answer = await create({ opportunityCode: "OPP-C-001", opportunityName: "重复", endCustomerName: "别的客户" });
    expectFailure(answer, 200, "商机编号已存在: OPP-C-001");
    expect(await snapshot(service)).toEqual(before);
    expect(await readRecord(service, "OPP-C-001")).toMatchObject({ id: 1, opportunityName: "商机 OPP-C-001", endCustomerName: "某客户" });
  });

  test("a duplicate code with surrounding spaces is the same code", async () => {
    const answer = await create({ opportunityCode: "  OPP-C-002 ", opportunityName: "重复", endCustomerName: "c" });
    expectFailure(answer, 200, "商机编号已存在: OPP-C-002");
  });

  test("field rules of the update apply to create as well", async () => {
    const before = await snapshot(service);
    const answer = await create({ opportunityCode: "OPP-C-200", opportunityName: "n", endCustomerName: "c", confidencePct: "D", stage: "xxx" });
    expectFailure(answer, 200);
    expect(reasonsOf(answer.json.msg).sort()).toEqual(["项目把握度仅支持A、B、C", "项目阶段无效: xxx"].sort());
    expect(await snapshot(service)).toEqual(before);
  });

  test("needs the secret", async () => {
    const before = await snapshot(service);
    const answer = await call(service, "POST", CREATE_PATH, {
      body: { opportunityCode: "OPP-C-300", opportunityName: "n", endCustomerName: "c" },
      secret: null,
    });
    expectFailure(answer, 401, "内部接口鉴权失败");
    expect(await snapshot(service)).toEqual(before);
  });
});
