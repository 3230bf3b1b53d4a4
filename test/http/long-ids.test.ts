import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, UPDATE_PATH, call, createOpportunity, expectFailure, expectSuccess, readPath, snapshot } from "./http-client";

// 64-bit IDs (snowflake IDs from Java systems) must survive JSON, SQLite and the answer without rounding.
let service: BackendService;
const CODE = "OPP-LONG-001";
const INT64_MAX = "9223372036854775807";

beforeAll(async () => {
  service = await startBackendService();
  await createOpportunity(service, { opportunityCode: CODE });
});
afterAll(() => service.dispose());

/** The body text built by hand: JSON.stringify cannot write these numbers. */
const rawUpdate = (fields: string) => call(service, "PUT", UPDATE_PATH, { rawBody: `{"opportunityCode":"${CODE}",${fields}}` });

const readText = async (code: string) => (await call(service, "GET", readPath(code))).text;

const storedId = async (column: string, code = CODE) =>
  (await service.tables.select<{ v: bigint | null }>(`SELECT ${column} AS v FROM opportunities WHERE code = ?`, [code]))[0]!.v;

describe("64-bit IDs are kept exact", () => {
  test("salesExpansionId 9223372036854775807 as a raw JSON number is stored and answered with the same digits", async () => {
    const answer = await rawUpdate(`"salesExpansionId":${INT64_MAX}`);
    expectSuccess(answer);
    expect(await storedId("sales_expansion_id")).toBe(BigInt(INT64_MAX));
    expect(await readText(CODE)).toContain(`"salesExpansionId":${INT64_MAX},`);
    const [row] = await service.tables.select<{ data: string }>("SELECT data FROM events ORDER BY position DESC LIMIT 1");
    expect(row!.data).toContain(INT64_MAX);
  });

  test("2^53 + 1 (which JSON.parse would round) is kept", async () => {
    expectSuccess(await rawUpdate(`"channelExpansionId":9007199254740993`));
    expect(await storedId("channel_expansion_id")).toBe(9007199254740993n);
    expect(await readText(CODE)).toContain(`"channelExpansionId":9007199254740993,`);
  });

  test("sending the same 64-bit ID again changes nothing", async () => {
    const before = await snapshot(service);
    expectSuccess(await rawUpdate(`"salesExpansionId":${INT64_MAX}`));
    expect(await snapshot(service)).toEqual(before);
  });

  test("an ID one above the 64-bit range is rejected with a message about the range", async () => {
    const before = await snapshot(service);
    const answer = await rawUpdate(`"salesExpansionId":9223372036854775808`);
    expectFailure(answer, 200);
    expect(answer.json.msg).toContain("salesExpansionId");
    expect(answer.json.msg).toContain("64 位");
    expect(answer.json.msg).toContain("9223372036854775808");
    expect(await snapshot(service)).toEqual(before);
  });

  test("a huge ID is rejected too", async () => {
    const answer = await rawUpdate(`"preSalesId":123456789012345678901234567890`);
    expectFailure(answer, 200);
    expect(answer.json.msg).toContain("preSalesId");
    expect(answer.json.msg).toContain("64 位");
  });

  test("an ID as a string of digits is accepted and answered as a number", async () => {
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: CODE, preSalesId: "1790000000000000001" } }));
    expect(await storedId("pre_sales_id")).toBe(1790000000000000001n);
    expect(await readText(CODE)).toContain(`"preSalesId":1790000000000000001,`);
  });

  test("a string ID beyond the range is rejected", async () => {
    const answer = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: CODE, preSalesId: "9223372036854775808" } });
    expectFailure(answer, 200);
    expect(answer.json.msg).toContain("64 位");
  });

  test("a 1e19 written in exponent form is not mistaken for an ID in range", async () => {
    const answer = await rawUpdate(`"preSalesId":1e19`);
    expectFailure(answer, 200);
    expect(answer.json.msg).toContain("preSalesId");
  });

  test("create keeps 64-bit IDs exact as well", async () => {
    const answer = await call(service, "POST", CREATE_PATH, {
      rawBody: `{"opportunityCode":"OPP-LONG-002","opportunityName":"n","endCustomerName":"c","salesExpansionId":1790000000000000001}`,
    });
    expectSuccess(answer);
    expect(await storedId("sales_expansion_id", "OPP-LONG-002")).toBe(1790000000000000001n);
    expect(await readText("OPP-LONG-002")).toContain(`"salesExpansionId":1790000000000000001,`);
  });

  test("a small ID is answered as a plain number", async () => {
    expectSuccess(await rawUpdate(`"salesExpansionId":42`));
    expect(await readText(CODE)).toContain(`"salesExpansionId":42,`);
  });
});

// The rule for one ID must not depend on the other fields: the exact parse once switched on only when some
// value in the body had 16 digits in a row, and 1.5e17 was then accepted as 150000000000000000.
describe("an ID beyond 2^53 written with an exponent or a fraction is refused, whatever else the body holds", () => {
  const LONG_TEXT = `"description":"订单号 1234567890123456"`;
  const LONG_ID = `"salesExpansionId":9007199254740993`;
  test.each<[string, string]>([
    ["alone", `"preSalesId":1.5e17`],
    ["after a 16-digit run in a text field", `${LONG_TEXT},"preSalesId":1.5e17`],
    ["before a 16-digit run in a text field", `"preSalesId":1.5e17,${LONG_TEXT}`],
    ["beside another 64-bit ID", `${LONG_ID},"preSalesId":1.5e17`],
    ["upper-case exponent beside another 64-bit ID", `"preSalesId":1.5E17,${LONG_ID}`],
    ["a trailing .0, alone", `"preSalesId":9007199254740993.0`],
    ["a trailing .0 beside another 64-bit ID", `${LONG_ID},"preSalesId":9007199254740993.0`],
    ["an exponent 0 beside another 64-bit ID", `${LONG_ID},"preSalesId":9007199254740993e0`],
  ])("%s", async (_name, fields) => {
    const before = await snapshot(service);
    const answer = await rawUpdate(fields);
    expectFailure(answer, 200);
    expect(answer.json.msg).toContain("preSalesId");
    expect(answer.json.msg).toContain("不带小数点和指数");
    expect(await snapshot(service)).toEqual(before);
  });

  test("an ID up to 2^53 in exponent form is the same plain number with or without a long value beside it", async () => {
    expectSuccess(await rawUpdate(`"preSalesId":1.5e3`));
    expect(await storedId("pre_sales_id")).toBe(1500n);
    expectSuccess(await rawUpdate(`"preSalesId":1.6e3,${LONG_TEXT}`));
    expect(await storedId("pre_sales_id")).toBe(1600n);
  });
});
