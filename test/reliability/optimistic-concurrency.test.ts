import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { CREATE_PATH, UPDATE_PATH, call, expectFailure, expectSuccess, readPath, readRecord, reasonsOf, send, snapshot, streamOf } from "../http/http-client";
import { startBackendService, type BackendService } from "../support/test-service";

// "Nothing lost": the read route and every write answer carry the version as ETag; an update sent with If-Match
// is applied only to that version; without If-Match the last writer wins, field by field.

const conflictText = (version: number) => JSON.stringify({ code: "-1", msg: `商机已被修改，当前版本为 ${version}`, data: null });
const badIfMatch = (shown: string) => `If-Match 必须是商机的一个版本号（读接口返回的 ETag，如 "3"）或 *（商机存在即可），收到: ${shown}`;

let service: BackendService;
beforeEach(async () => {
  service = await startBackendService();
});
afterEach(() => service.dispose());

async function createWith(code: string, fields: Record<string, unknown> = {}) {
  const answer = await call(service, "POST", CREATE_PATH, { body: { opportunityCode: code, opportunityName: "测试商机", endCustomerName: "某市大数据局", ...fields } });
  expectSuccess(answer);
  return answer;
}

describe("ETag", () => {
  test("GET answers the opportunity's version as ETag, and it follows each change", async () => {
    await createWith("OPP-ETAG-1");
    const first = await call(service, "GET", readPath("OPP-ETAG-1"));
    expect(first.headers.get("etag")).toBe('"1"');
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-ETAG-1", amount: 12.5 } }));
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-ETAG-1", description: "二次修改" } }));
    const third = await call(service, "GET", readPath("OPP-ETAG-1"));
    expect(third.headers.get("etag")).toBe('"3"');
    expect((expectSuccess(third) as Record<string, unknown>).version).toBe(3);
  });

  test("write answers carry the ETag of the version they leave; an unknown opportunity has none", async () => {
    const created = await createWith("OPP-ETAG-2", { amount: 1 });
    expect(created.headers.get("etag")).toBe('"1"');
    const updated = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-ETAG-2", amount: 2 } });
    expect(expectSuccess(updated)).toBe(1);
    expect(updated.headers.get("etag")).toBe('"2"');
    // An update that changes nothing appends nothing and answers the current version.
    const unchanged = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-ETAG-2", amount: 2 } });
    expectSuccess(unchanged);
    expect(unchanged.headers.get("etag")).toBe('"2"');
    expect(await streamOf(service, "OPP-ETAG-2")).toHaveLength(2);

    const missing = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-NOPE", amount: 2 } });
    expectFailure(missing, 200, "商机不存在");
    expect(missing.headers.get("etag")).toBeNull();
    const duplicate = await call(service, "POST", CREATE_PATH, { body: { opportunityCode: "OPP-ETAG-2", opportunityName: "n", endCustomerName: "c" } });
    expectFailure(duplicate, 200, "商机编号已存在: OPP-ETAG-2");
  });
});

describe("If-Match", () => {
  test("an update against an older version is refused with the current version, and nothing is written", async () => {
    await createWith("OPP-IFM-1", { amount: 1 });
    const read = await call(service, "GET", readPath("OPP-IFM-1"));
    const etag = read.headers.get("etag")!;
    // Someone else changes it in between.
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IFM-1", amount: 2 } }));
    const before = await snapshot(service);

    const stale = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IFM-1", amount: 3 }, headers: { "if-match": etag } });
    expect(stale.status).toBe(200);
    expect(stale.text).toBe(conflictText(2));
    expect(stale.text).toBe('{"code":"-1","msg":"商机已被修改，当前版本为 2","data":null}');
    expect(stale.headers.get("etag")).toBe('"2"');
    expect(await snapshot(service)).toEqual(before);

    // Re-read, decide again, send the new ETag: applied.
    const fresh = (await call(service, "GET", readPath("OPP-IFM-1"))).headers.get("etag")!;
    expect(fresh).toBe('"2"');
    const applied = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IFM-1", amount: 3 }, headers: { "if-match": fresh } });
    expect(expectSuccess(applied)).toBe(1);
    expect(applied.headers.get("etag")).toBe('"3"');
    expect(await readRecord(service, "OPP-IFM-1")).toMatchObject({ amount: 3, version: 3 });
  });

  test("a newer version than the current one is a conflict too", async () => {
    await createWith("OPP-IFM-2");
    const ahead = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IFM-2", amount: 3 }, headers: { "if-match": '"7"' } });
    expect(ahead.text).toBe(conflictText(1));
    expect(ahead.headers.get("etag")).toBe('"1"');
    expect(await streamOf(service, "OPP-IFM-2")).toHaveLength(1);
  });

  test('accepted forms: "N", N and W/"N"', async () => {
    await createWith("OPP-IFM-3");
    const forms = ['"1"', "2", 'W/"3"'];
    for (const [index, form] of forms.entries()) {
      const answer = await call(service, "PUT", UPDATE_PATH, {
        body: { opportunityCode: "OPP-IFM-3", amount: index + 10 },
        headers: { "if-match": form },
      });
      expect({ form, msg: answer.json.msg, etag: answer.headers.get("etag") }).toEqual({ form, msg: "success", etag: `"${index + 2}"` });
    }
    expect(await readRecord(service, "OPP-IFM-3")).toMatchObject({ amount: 12, version: 4 });
    // Each form is checked against the version, not only accepted: an old one in each form is a conflict.
    for (const form of ['"1"', "1", 'W/"1"']) {
      const answer = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IFM-3", amount: 99 }, headers: { "if-match": form } });
      expect(answer.text).toBe(conflictText(4));
    }
    expect(await streamOf(service, "OPP-IFM-3")).toHaveLength(4);
  });

  test("a bad If-Match is reported in the envelope and nothing is written", async () => {
    await createWith("OPP-IFM-4");
    const before = await snapshot(service);
    for (const [header, shown] of [
      ["abc", '"abc"'],
      ['"0"', '"\\"0\\""'],
      ['"-1"', '"\\"-1\\""'],
      ['"1", "2"', '"\\"1\\", \\"2\\""'],
      // One opportunity has one version: a list, even one holding the current version or *, is refused.
      ['"1", *', '"\\"1\\", *"'],
      ["*, *", '"*, *"'],
      ["**", '"**"'],
      ["", '""'],
    ] as const) {
      const answer = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IFM-4", amount: 5 }, headers: { "if-match": header } });
      expectFailure(answer, 200, badIfMatch(shown));
      expect(answer.headers.get("etag")).toBeNull();
    }
    expect(await snapshot(service)).toEqual(before);
  });

  test("a bad If-Match is reported together with the body's errors, so a client sees every problem at once", async () => {
    await createWith("OPP-IFM-4B");
    const before = await snapshot(service);
    // write-headers.ts: "Bad values are reported with the body's field errors, in the same envelope".
    const both = await call(service, "PUT", UPDATE_PATH, {
      body: { opportunityCode: "OPP-IFM-4B", confidencePct: "D" },
      headers: { "if-match": "v1" },
    });
    expectFailure(both, 200);
    expect(reasonsOf(both.json.msg)).toEqual(["项目把握度仅支持A、B、C", badIfMatch('"v1"')]);
    expect(await snapshot(service)).toEqual(before);
  });

  test("two updates sent at once against the same version: exactly one is applied, the other is told the new version", async () => {
    await createWith("OPP-IFM-5", { amount: 1 });
    const answers = await Promise.all(
      [100, 200].map((amount) => call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IFM-5", amount }, headers: { "if-match": '"1"' } })),
    );
    const texts = answers.map((answer) => answer.text).sort();
    expect(texts).toEqual(['{"code":"0","msg":"success","data":1}', conflictText(2)].sort());
    expect(answers.map((answer) => answer.headers.get("etag"))).toEqual(['"2"', '"2"']);
    const winner = answers.findIndex((answer) => answer.json.code === "0");
    expect(await readRecord(service, "OPP-IFM-5")).toMatchObject({ amount: winner === 0 ? 100 : 200, version: 2 });
    expect(await streamOf(service, "OPP-IFM-5")).toHaveLength(2);
  });
});

// RFC 9110: "If-Match: *" is true when the resource has a current representation; for this route, when the
// opportunity exists, which an update requires anyway.
describe("If-Match: *", () => {
  test("applies the update at whatever version is current, as often as sent", async () => {
    await createWith("OPP-ANY-1", { amount: 1 });
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-ANY-1", amount: 2 } }));
    for (const [amount, header] of [[3, "*"], [4, " * "]] as const) {
      const answer = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-ANY-1", amount }, headers: { "if-match": header } });
      expect(expectSuccess(answer)).toBe(1);
      expect(answer.headers.get("etag")).toBe(`"${amount}"`);
    }
    expect(await readRecord(service, "OPP-ANY-1")).toMatchObject({ amount: 4, version: 4 });
    expect(await streamOf(service, "OPP-ANY-1")).toHaveLength(4);
  });

  test("an unknown code is still 商机不存在, and nothing is written", async () => {
    const before = await snapshot(service);
    const answer = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-ANY-NONE", amount: 5 }, headers: { "if-match": "*" } });
    expectFailure(answer, 200, "商机不存在");
    expect(answer.headers.get("etag")).toBeNull();
    expect(await snapshot(service)).toEqual(before);
  });

  test("the body's errors are reported as without the header", async () => {
    await createWith("OPP-ANY-2");
    const before = await snapshot(service);
    const answer = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-ANY-2", confidencePct: "D" }, headers: { "if-match": "*" } });
    expectFailure(answer, 200, "项目把握度仅支持A、B、C");
    expect(await snapshot(service)).toEqual(before);
  });
});

describe("without If-Match", () => {
  test("the last writer wins field by field: two updates of different fields sent at once both land", async () => {
    await createWith("OPP-LWW-1", { amount: 1, description: "原说明" });
    const [a, b] = await Promise.all([
      send(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-LWW-1", amount: 50 } }),
      send(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-LWW-1", description: "新说明" } }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([await a.text(), await b.text()]).toEqual(['{"code":"0","msg":"success","data":1}', '{"code":"0","msg":"success","data":1}']);
    expect(await readRecord(service, "OPP-LWW-1")).toMatchObject({ amount: 50, description: "新说明", version: 3 });
    const changes = (await streamOf(service, "OPP-LWW-1"))
      .slice(1)
      .map((event) => (event.data as { changes: Record<string, unknown> }).changes);
    expect(changes).toContainEqual({ amount: 50 });
    expect(changes).toContainEqual({ description: "新说明" });
    expect(changes).toHaveLength(2);
  });

  test("two updates of the same field: the later one's value stays, and its event records the earlier one as previous", async () => {
    await createWith("OPP-LWW-2", { amount: 1 });
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-LWW-2", amount: 7, stage: "won" } }));
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-LWW-2", amount: 8 } }));
    expect(await readRecord(service, "OPP-LWW-2")).toMatchObject({ amount: 8, stage: "won", version: 3 });
    expect((await streamOf(service, "OPP-LWW-2"))[2]!.data).toEqual({ changes: { amount: 8 }, previous: { amount: 7 } });
  });
});
