import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, UPDATE_PATH, call, createOpportunity, expectFailure, reasonsOf, snapshot } from "./http-client";

// A refused number is quoted as the client wrote it: JSON reads 9007199254740993.5 as 9007199254740994 and
// 1e400 as Infinity, and a message showing those would name a value nobody sent.
let service: BackendService;
const CODE = "OPP-NUM-001";

beforeAll(async () => {
  service = await startBackendService();
  await createOpportunity(service, { opportunityCode: CODE });
});
afterAll(() => service.dispose());

/** The body text built by hand: JSON.stringify cannot write these numbers as they are written here. */
const rawUpdate = (fields: string) => call(service, "PUT", UPDATE_PATH, { rawBody: `{"opportunityCode":"${CODE}",${fields}}` });

const ID_RULE = "必须是大于 0 的整数，且超过 2^53 时须以不带小数点和指数的整数（或纯数字字符串）书写";
const TIME_RULE = "必须是 ISO 8601 时间、yyyy-MM-dd HH:mm:ss 或毫秒时间戳";

describe("each field quotes a refused number as sent", () => {
  test.each<[string, string, string]>([
    ["an ID beyond 2^53 with a fraction", `"preSalesId":9007199254740993.5`, `preSalesId ${ID_RULE}，收到: 9007199254740993.5`],
    ["an ID beyond 2^53 with .0", `"salesExpansionId":9007199254740993.0`, `salesExpansionId ${ID_RULE}，收到: 9007199254740993.0`],
    ["an ID in exponent form", `"channelExpansionId":1.5E17`, `channelExpansionId ${ID_RULE}，收到: 1.5E17`],
    ["an ID with a fraction below 2^53", `"preSalesId":12.50`, "preSalesId 必须是大于 0 的整数，收到: 12.50"],
    ["a negative ID", `"preSalesId":-1.0`, "preSalesId 必须是大于 0 的整数，收到: -1.0"],
    ["an ID beyond the 64-bit range in exponent form", `"preSalesId":1e19`, `preSalesId ${ID_RULE}，收到: 1e19`],
    ["a negative amount", `"amount":-1.50`, "amount 必须大于 0，收到: -1.50"],
    ["an amount of zero written -0.0", `"amount":-0.0`, "amount 必须大于 0，收到: -0.0"],
    ["an amount JSON reads as Infinity", `"amount":1e400`, "amount 不能超过 10000000000000，收到: 1e400"],
    ["an amount over the maximum in exponent form", `"amount":2E13`, "amount 不能超过 10000000000000，收到: 2E13"],
    ["epoch milliseconds with a fraction", `"omsPushTime":1777516830000.50`, `omsPushTime ${TIME_RULE}，收到: 1777516830000.50`],
    ["epoch milliseconds in exponent form with a fraction", `"omsPushTime":1.7775168300005e12`, `omsPushTime ${TIME_RULE}，收到: 1.7775168300005e12`],
    ["a number as a date", `"expectedCloseDate":20260430.0`, "expectedCloseDate 必须是有效日期，格式 YYYY-MM-DD，收到: 20260430.0"],
    ["a number as text", `"opportunityName":1.0`, "opportunityName 必须是字符串，收到: 1.0"],
    ["a number as a boolean", `"archived":1E0`, "archived 必须是布尔值 true 或 false，收到: 1E0"],
    ["a number as a stage", `"stage":3.00`, "项目阶段无效: 3.00"],
    ["a number as a status", `"status":2.50`, "商机状态无效: 2.50，仅支持 active、closed、won、lost"],
  ])("%s", async (_name, fields, message) => {
    const before = await snapshot(service);
    expectFailure(await rawUpdate(fields), 200, message);
    expect(await snapshot(service)).toEqual(before);
  });

  test("the opportunity code sent as a number", async () => {
    const answer = await call(service, "PUT", UPDATE_PATH, { rawBody: `{"opportunityCode":1.10,"description":"x"}` });
    expectFailure(answer, 200, "opportunityCode 必须是字符串，收到: 1.10");
  });

  test("several refused numbers in one body: each quoted as sent, in the one message", async () => {
    const answer = await rawUpdate(`"amount":-1.50,"preSalesId":9007199254740993.5,"archived":0.0`);
    expectFailure(answer, 200);
    expect(reasonsOf(answer.json.msg)).toEqual([
      "amount 必须大于 0，收到: -1.50",
      `preSalesId ${ID_RULE}，收到: 9007199254740993.5`,
      "archived 必须是布尔值 true 或 false，收到: 0.0",
    ]);
  });

  test("a key sent twice is read as its last value, and quoted so", async () => {
    expectFailure(await rawUpdate(`"amount":5,"amount":-2.00`), 200, "amount 必须大于 0，收到: -2.00");
  });

  test("a very long number is cut short like any quoted value", async () => {
    const digits = `1${"0".repeat(80)}.5`;
    expectFailure(await rawUpdate(`"amount":${digits}`), 200, `amount 不能超过 10000000000000，收到: ${digits.slice(0, 57)}...`);
  });

  test("a number inside a string or a nested value is quoted as JSON, as before", async () => {
    expectFailure(await rawUpdate(`"amount":"1.50"`), 200, 'amount 必须是数字，收到: "1.50"');
    expectFailure(await rawUpdate(`"amount":[1.50]`), 200, "amount 必须是数字，收到: [1.5]");
  });
});

describe("create quotes refused numbers as sent too", () => {
  test("end customer, name and an ID", async () => {
    const answer = await call(service, "POST", CREATE_PATH, {
      rawBody: `{"opportunityCode":"OPP-NUM-002","opportunityName":2.0,"endCustomerName":1e2,"salesExpansionId":9007199254740993.5}`,
    });
    expectFailure(answer, 200);
    expect(reasonsOf(answer.json.msg)).toEqual([
      "opportunityName 必须是字符串，收到: 2.0",
      `salesExpansionId ${ID_RULE}，收到: 9007199254740993.5`,
      "endCustomerName 必须是字符串，收到: 1e2",
    ]);
  });
});
