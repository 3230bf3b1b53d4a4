import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { OTHER_CLIENT_SECRET, startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, JSON_UTF8, UPDATE_PATH, call, createOpportunity, expectFailure, expectSuccess, readPath, readRecord, reasonsOf, snapshot, update } from "./http-client";

// GET /api/opportunities/{code}?asOf=… and ?version=…: the record as it was, folded from the events alone.
// The service zone is Asia/Shanghai (UTC+8, no daylight saving).

let service: BackendService;
let clock = new Date("2026-04-01T00:00:00.000Z");

beforeAll(async () => {
  service = await startBackendService({ now: () => clock });
});
afterAll(() => service.dispose());

const at = (iso: string) => {
  clock = new Date(iso);
};

const readAt = (code: string, query: Record<string, string>) => call(service, "GET", `${readPath(code)}?${new URLSearchParams(query)}`);

async function recordAt(code: string, query: Record<string, string>): Promise<Record<string, unknown>> {
  const data = expectSuccess(await readAt(code, query));
  expect(data).toBeObject();
  return data as Record<string, unknown>;
}

describe("a stream written at known instants", () => {
  const CODE = "OPP-PIT-001";
  // The record GET answered right after each write: records[v] is version v.
  const records: Record<string, unknown>[] = [];
  const T1 = "2026-04-01T02:00:00.000Z"; // 10:00 on 1 April in Shanghai
  const T2 = "2026-04-01T15:59:59.999Z"; // the last millisecond of 1 April in Shanghai
  const T3 = "2026-04-01T16:00:00.000Z"; // midnight starting 2 April in Shanghai (still 1 April in UTC)
  const T4 = "2026-04-03T06:30:00.500Z"; // versions 4 and 5 share this instant

  beforeAll(async () => {
    records.push({});
    at(T1);
    await createOpportunity(service, { opportunityCode: CODE, opportunityName: "时点测试", amount: 100, stage: "solution" });
    records.push(await readRecord(service, CODE));
    at(T2);
    expectSuccess(await update(service, { opportunityCode: CODE, stage: "bidding", confidencePct: "C" }));
    records.push(await readRecord(service, CODE));
    at(T3);
    expectSuccess(await update(service, { opportunityCode: CODE, amount: 250.5 }));
    records.push(await readRecord(service, CODE));
    at(T4);
    expectSuccess(await update(service, { opportunityCode: CODE, description: "招投标回写", salesExpansionId: 77 }, { secret: OTHER_CLIENT_SECRET }));
    records.push(await readRecord(service, CODE));
    expectSuccess(await update(service, { opportunityCode: CODE, archived: true, description: "" }));
    records.push(await readRecord(service, CODE));
    // Neither a request that changes nothing nor a rejected one makes a version.
    at("2026-04-04T00:00:00.000Z");
    expectSuccess(await update(service, { opportunityCode: CODE, archived: true }));
    expectFailure(await update(service, { opportunityCode: CODE, confidencePct: "Z" }), 200, "项目把握度仅支持A、B、C");
    // A sanity check of the fixture itself: five distinct versions.
    expect(records.slice(1).map((record) => record.version)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(records.slice(1).map((record) => JSON.stringify(record))).size).toBe(5);
  });

  test("version=n answers exactly the record GET answered right after write n", async () => {
    for (let version = 1; version <= 5; version++) {
      expect({ version, record: await recordAt(CODE, { version: String(version) }) }).toEqual({ version, record: records[version]! });
    }
  });

  test("version=1 is the record at creation, with the creation time as updatedAt", async () => {
    expect(await recordAt(CODE, { version: "1" })).toMatchObject({
      version: 1,
      amount: 100,
      stage: "solution",
      confidencePct: null,
      description: null,
      archived: false,
      createdAt: T1,
      updatedAt: T1,
    });
  });

  test("asOf exactly at an event's instant includes that event (inclusive)", async () => {
    expect(await recordAt(CODE, { asOf: T1 })).toEqual(records[1]!);
    expect(await recordAt(CODE, { asOf: T2 })).toEqual(records[2]!);
    expect(await recordAt(CODE, { asOf: T3 })).toEqual(records[3]!);
  });

  test("two events at the same instant: asOf that instant answers the later one", async () => {
    expect(await recordAt(CODE, { asOf: T4 })).toEqual(records[5]!);
  });

  test("asOf one millisecond before an event answers the version before it", async () => {
    expect(await recordAt(CODE, { asOf: "2026-04-01T15:59:59.998Z" })).toEqual(records[1]!);
    expect(await recordAt(CODE, { asOf: "2026-04-01T15:59:59.999Z" })).toEqual(records[2]!);
    expect(await recordAt(CODE, { asOf: "2026-04-03T06:30:00.499Z" })).toEqual(records[3]!);
  });

  test("asOf between events, written with an offset, answers the state then", async () => {
    expect(await recordAt(CODE, { asOf: "2026-04-01T18:00:00+08:00" })).toEqual(records[1]!);
    expect(await recordAt(CODE, { asOf: "2026-04-02T12:00:00+08:00" })).toEqual(records[3]!);
    // 03:00 at UTC+1 is 02:00 UTC: T1 exactly.
    expect(await recordAt(CODE, { asOf: "2026-04-01T03:00:00+01:00" })).toEqual(records[1]!);
  });

  test("asOf without an offset is read in the service zone (Asia/Shanghai)", async () => {
    expect(await recordAt(CODE, { asOf: "2026-04-01T10:00:00" })).toEqual(records[1]!);
    expect(await recordAt(CODE, { asOf: "2026-04-01 23:59:59" })).toEqual(records[1]!);
    expect(await recordAt(CODE, { asOf: "2026-04-01 23:59:59.999" })).toEqual(records[2]!);
    expectFailure(await readAt(CODE, { asOf: "2026-04-01T09:59:59.999" }), 200, "商机在 2026-04-01T09:59:59.999+08:00 时尚未创建");
  });

  test("a date alone means the end of that day in Shanghai, not in UTC", async () => {
    // 1 April ends at 15:59:59.999Z: T2 is in, T3 (16:00Z, still 1 April in UTC) is out.
    expect(await recordAt(CODE, { asOf: "2026-04-01" })).toEqual(records[2]!);
    expect(await recordAt(CODE, { asOf: "2026-04-02" })).toEqual(records[3]!);
    expect(await recordAt(CODE, { asOf: "2026-04-03" })).toEqual(records[5]!);
  });

  test("asOf after the last event answers the current record", async () => {
    const current = await readRecord(service, CODE);
    expect(current).toEqual(records[5]!);
    expect(await recordAt(CODE, { asOf: "2030-01-01T00:00:00Z" })).toEqual(current);
    expect(await recordAt(CODE, { version: "5" })).toEqual(current);
  });

  test("before creation: 商机在 <time in the service zone> 时尚未创建", async () => {
    expectFailure(await readAt(CODE, { asOf: "2026-03-31" }), 200, "商机在 2026-03-31T23:59:59.999+08:00 时尚未创建");
    expectFailure(await readAt(CODE, { asOf: "2026-04-01T01:59:59.999Z" }), 200, "商机在 2026-04-01T09:59:59.999+08:00 时尚未创建");
    const answer = await readAt(CODE, { asOf: "2020-01-01T00:00:00Z" });
    expect(answer.contentType).toBe(JSON_UTF8);
    expect(answer.text).toBe('{"code":"-1","msg":"商机在 2020-01-01T08:00:00+08:00 时尚未创建","data":null}');
  });

  test("a version beyond the latest: 商机没有版本 N，当前版本为 M", async () => {
    expectFailure(await readAt(CODE, { version: "6" }), 200, "商机没有版本 6，当前版本为 5");
    expectFailure(await readAt(CODE, { version: "1000000" }), 200, "商机没有版本 1000000，当前版本为 5");
  });

  test("asOf and version together: asOf 和 version 只能传一个", async () => {
    expectFailure(await readAt(CODE, { asOf: T1, version: "1" }), 200, "asOf 和 version 只能传一个");
  });

  test("reading at a point writes nothing", async () => {
    const before = await snapshot(service);
    await recordAt(CODE, { version: "2" });
    await recordAt(CODE, { asOf: T3 });
    expect(await snapshot(service)).toEqual(before);
  });

  test("the answer echoes X-Request-Id", async () => {
    const answer = await call(service, "GET", `${readPath(CODE)}?version=2`, { headers: { "x-request-id": "pit-read-1" } });
    expectSuccess(answer);
    expect(answer.headers.get("x-request-id")).toBe("pit-read-1");
  });
});

describe("bad point-in-time parameters", () => {
  const CODE = "OPP-PIT-BAD";

  beforeAll(async () => {
    at("2026-04-10T00:00:00.000Z");
    await createOpportunity(service, { opportunityCode: CODE });
  });

  const ASOF_MESSAGE = (value: string) => `asOf 必须是 ISO 8601 时间（如 2026-04-01T12:00:00+08:00）或日期（如 2026-04-01），收到: "${value}"`;

  test.each(["0", "-1", "x", "1.5", "99999999999999999999"])("version=%s is rejected naming version and the value", async (value) => {
    expectFailure(await readAt(CODE, { version: value }), 200, `version 必须是不小于 1 的整数，收到: "${value}"`);
  });

  test.each(["yesterday", "2026-02-30", "2026/04/01", "2026-04-01T25:00:00", "2026-04-01T12:00:00+25:00"])("asOf=%s is rejected naming asOf and the value", async (value) => {
    expectFailure(await readAt(CODE, { asOf: value }), 200, ASOF_MESSAGE(value));
  });

  test("an unknown parameter is named, with the ones supported", async () => {
    expectFailure(await readAt(CODE, { at: "2026-04-01" }), 200, "不支持的查询参数: at，支持: asOf、version");
  });

  test("unknown parameters and bad values are reported together", async () => {
    const answer = await readAt(CODE, { asof: "2026-04-01", asOf: "bad", version: "0" });
    expectFailure(answer, 200);
    expect(reasonsOf(answer.json.msg).sort()).toEqual(
      ["不支持的查询参数: asof，支持: asOf、version", ASOF_MESSAGE("bad"), 'version 必须是不小于 1 的整数，收到: "0"', "asOf 和 version 只能传一个"].sort(),
    );
  });

  test("an unknown code with asOf or version answers 商机不存在", async () => {
    expectFailure(await readAt("OPP-PIT-NONE", { asOf: "2026-04-01" }), 200, "商机不存在");
    expectFailure(await readAt("OPP-PIT-NONE", { version: "1" }), 200, "商机不存在");
  });
});

describe("the projection is not used for a point in time", () => {
  const CODE = "OPP-PIT-PROJ";
  let v1: Record<string, unknown>;
  let v2: Record<string, unknown>;

  beforeAll(async () => {
    at("2026-04-20T00:00:00.000Z");
    await createOpportunity(service, { opportunityCode: CODE, stage: "lead", amount: 10 });
    v1 = await readRecord(service, CODE);
    at("2026-04-21T00:00:00.000Z");
    expectSuccess(await update(service, { opportunityCode: CODE, stage: "negotiation" }));
    v2 = await readRecord(service, CODE);
    // Tamper with the projection row behind the service's back (events stay as they are).
    await service.tables.run("UPDATE opportunities SET stage = 'lost', amount = 1, version = 99, description = '被改过' WHERE code = ?", [CODE]);
  });

  test("the plain GET shows the edited row, proving the edit took effect", async () => {
    expect(await readRecord(service, CODE)).toMatchObject({ stage: "lost", amount: 1, version: 99, description: "被改过" });
  });

  test("version and asOf still answer the state folded from the events", async () => {
    expect(await recordAt(CODE, { version: "2" })).toEqual(v2);
    expect(await recordAt(CODE, { version: "1" })).toEqual(v1);
    expect(await recordAt(CODE, { asOf: "2030-01-01" })).toEqual(v2);
    expect(await recordAt(CODE, { asOf: "2026-04-20T12:00:00Z" })).toEqual(v1);
  });

  test("the latest version comes from the events, not from the projection's version column", async () => {
    expectFailure(await readAt(CODE, { version: "99" }), 200, "商机没有版本 99，当前版本为 2");
    expectFailure(await readAt(CODE, { version: "3" }), 200, "商机没有版本 3，当前版本为 2");
  });

  test("with the projection row deleted, the plain GET finds nothing but the point-in-time reads still answer", async () => {
    await service.tables.run("DELETE FROM opportunities WHERE code = ?", [CODE]);
    expectFailure(await call(service, "GET", readPath(CODE)), 200, "商机不存在");
    expect(await recordAt(CODE, { version: "1" })).toEqual(v1);
    expect(await recordAt(CODE, { asOf: "2026-04-21T00:00:00.000Z" })).toEqual(v2);
  });
});

describe("64-bit IDs at a point in time", () => {
  const CODE = "OPP-PIT-LONG";

  beforeAll(async () => {
    at("2026-04-25T00:00:00.000Z");
    expectSuccess(
      await call(service, "POST", CREATE_PATH, {
        rawBody: `{"opportunityCode":"${CODE}","opportunityName":"雪花ID","endCustomerName":"某局","salesExpansionId":9223372036854775807,"preSalesId":9007199254740993}`,
      }),
    );
    at("2026-04-26T00:00:00.000Z");
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { rawBody: `{"opportunityCode":"${CODE}","salesExpansionId":9223372036854775806,"channelExpansionId":1790000000000000001}` }));
  });

  test("version=1 and asOf before the update answer the original digits", async () => {
    for (const query of [{ version: "1" }, { asOf: "2026-04-25" }] as Record<string, string>[]) {
      const answer = await readAt(CODE, query);
      expectSuccess(answer);
      expect(answer.text).toContain('"salesExpansionId":9223372036854775807,');
      expect(answer.text).toContain('"channelExpansionId":null,');
      expect(answer.text).toContain('"preSalesId":9007199254740993,');
    }
  });

  test("version=2 and asOf after the update answer the new digits", async () => {
    for (const query of [{ version: "2" }, { asOf: "2026-04-26" }] as Record<string, string>[]) {
      const answer = await readAt(CODE, query);
      expectSuccess(answer);
      expect(answer.text).toContain('"salesExpansionId":9223372036854775806,');
      expect(answer.text).toContain('"channelExpansionId":1790000000000000001,');
      expect(answer.text).toContain('"preSalesId":9007199254740993,');
    }
  });

  test("the latest version's text is byte for byte the plain GET's text", async () => {
    const plain = await call(service, "GET", readPath(CODE));
    expectSuccess(plain);
    expect((await readAt(CODE, { version: "2" })).text).toBe(plain.text);
    expect((await readAt(CODE, { asOf: "2030-01-01" })).text).toBe(plain.text);
  });
});
