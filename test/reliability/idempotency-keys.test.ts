import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { MESSAGES } from "../../src/opportunity-writer";
import { CREATE_PATH, UPDATE_PATH, call, expectFailure, expectSuccess, readRecord, reasonsOf, send, snapshot, streamOf } from "../http/http-client";
import { OTHER_CLIENT_SECRET, startBackendService, type BackendService } from "../support/test-service";
import { META, appFor, callApp, createCommand, eventCount, idempotencyKeysOf, updateCommand, useTestDatabase } from "./reliability-support";

// "Nothing lost": a client that retries a write with the same Idempotency-Key gets the first answer again and
// nothing is applied twice; a key reused for another request is refused; keys are per client and survive restarts.

const MISMATCH = "Idempotency-Key 已用于另一个内容不同的请求，本次未做任何修改";
const IN_FLIGHT = "相同 Idempotency-Key 的请求正在处理中，请稍后重试";
const badKey = (shown: string) => `Idempotency-Key 必须是 1 到 255 个可见 ASCII 字符（如 UUID），收到: ${shown}`;

const createBody = (code: string, extra: Record<string, unknown> = {}) => ({
  opportunityCode: code,
  opportunityName: `商机 ${code}`,
  endCustomerName: "某市大数据局",
  ...extra,
});
const withKey = (key: string, headers: Record<string, string> = {}) => ({ "idempotency-key": key, ...headers });

describe("Idempotency-Key over HTTP", () => {
  let service: BackendService;
  beforeEach(async () => {
    service = await startBackendService();
  });
  afterEach(() => service.dispose());

  test("the messages the writer uses are the ones the issue asks for", () => {
    expect(MESSAGES).toEqual({ idempotencyMismatch: MISMATCH, inFlight: IN_FLIGHT });
  });

  test("a retried create with the same key and body gets the first answer again and appends nothing", async () => {
    const first = await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-1"), headers: withKey("key-create-1") });
    expect(expectSuccess(first)).toBe(1);
    expect(first.headers.get("etag")).toBe('"1"');
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const before = await snapshot(service);

    const retry = await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-1"), headers: withKey("key-create-1") });
    expect(retry.status).toBe(200);
    expect(retry.text).toBe(first.text);
    expect(retry.text).toBe('{"code":"0","msg":"success","data":1}');
    expect(retry.headers.get("etag")).toBe('"1"');
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await snapshot(service)).toEqual(before);
    expect(await streamOf(service, "OPP-IDEM-1")).toHaveLength(1);
  });

  test("a retried update with the same key is replayed, and the same body spelled differently counts as the same", async () => {
    expectSuccess(await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-2", { amount: 1 }) }));
    const first = await call(service, "PUT", UPDATE_PATH, {
      rawBody: '{"opportunityCode":"OPP-IDEM-2","amount":5,"description":"第一次"}',
      headers: withKey("key-update-2"),
    });
    expect(expectSuccess(first)).toBe(1);
    expect(first.headers.get("etag")).toBe('"2"');
    const before = await snapshot(service);

    // Other key order, other whitespace, same content.
    const respelled = await call(service, "PUT", UPDATE_PATH, {
      rawBody: '{\n  "description" : "第一次",\n\t"amount": 5 ,  "opportunityCode":"OPP-IDEM-2"\n}\n',
      headers: withKey("key-update-2"),
    });
    expect(respelled.text).toBe(first.text);
    expect(respelled.headers.get("etag")).toBe('"2"');
    expect(respelled.headers.get("idempotent-replayed")).toBe("true");
    expect(await snapshot(service)).toEqual(before);
    expect((await streamOf(service, "OPP-IDEM-2")).map((event) => event.version)).toEqual([1, 2]);
    expect(await readRecord(service, "OPP-IDEM-2")).toMatchObject({ amount: 5, description: "第一次", version: 2 });
  });

  test("a replay answers the first outcome even after the opportunity has changed since", async () => {
    const first = await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-3"), headers: withKey("key-create-3") });
    expect(expectSuccess(first)).toBe(1);
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IDEM-3", amount: 9 } }));

    // Without the key this create would be refused as a duplicate code; with it, the first answer comes back.
    const retry = await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-3"), headers: withKey("key-create-3") });
    expect(retry.text).toBe('{"code":"0","msg":"success","data":1}');
    expect(retry.headers.get("etag")).toBe('"1"');
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await streamOf(service, "OPP-IDEM-3")).toHaveLength(2);
  });

  test("the same key with a different body is refused and nothing is written", async () => {
    expectSuccess(await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-4", { amount: 1 }) }));
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IDEM-4", amount: 10 }, headers: withKey("key-4") }));
    const before = await snapshot(service);

    const other = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IDEM-4", amount: 20 }, headers: withKey("key-4") });
    expectFailure(other, 200, MISMATCH);
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    expect(await snapshot(service)).toEqual(before);
    expect(await readRecord(service, "OPP-IDEM-4")).toMatchObject({ amount: 10, version: 2 });

    // A key is bound to its route too: the create body of another route is another request.
    const onCreate = await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-4B"), headers: withKey("key-4") });
    expectFailure(onCreate, 200, MISMATCH);
    expect(await snapshot(service)).toEqual(before);
    expect(await streamOf(service, "OPP-IDEM-4B")).toHaveLength(0);
  });

  test("a request still in flight with the same key: the second is told to retry later, the first is applied once", async () => {
    const body = createBody("OPP-IDEM-5");
    const [a, b] = await Promise.all([
      send(service, "POST", CREATE_PATH, { body, headers: withKey("key-5") }),
      send(service, "POST", CREATE_PATH, { body, headers: withKey("key-5") }),
    ]);
    const texts = [await a.text(), await b.text()].sort();
    expect(texts).toEqual(
      [JSON.stringify({ code: "0", msg: "success", data: 1 }), JSON.stringify({ code: "-1", msg: IN_FLIGHT, data: null })].sort(),
    );
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(await streamOf(service, "OPP-IDEM-5")).toHaveLength(1);

    // Once the first has been committed, the retry is a replay.
    const later = await call(service, "POST", CREATE_PATH, { body, headers: withKey("key-5") });
    expect(later.text).toBe('{"code":"0","msg":"success","data":1}');
    expect(later.headers.get("idempotent-replayed")).toBe("true");
    expect(await streamOf(service, "OPP-IDEM-5")).toHaveLength(1);
  });

  test("keys are per client: two clients may use the same key independently, each replaying its own answer", async () => {
    const oms = await call(service, "POST", CREATE_PATH, { body: createBody("OPP-OMS"), headers: withKey("shared-key") });
    const bidding = await call(service, "POST", CREATE_PATH, {
      body: createBody("OPP-BID"),
      headers: withKey("shared-key"),
      secret: OTHER_CLIENT_SECRET,
    });
    expect(expectSuccess(oms)).toBe(1);
    expect(expectSuccess(bidding)).toBe(2);
    expect(bidding.headers.get("idempotent-replayed")).toBeNull();

    const omsRetry = await call(service, "POST", CREATE_PATH, { body: createBody("OPP-OMS"), headers: withKey("shared-key") });
    const biddingRetry = await call(service, "POST", CREATE_PATH, {
      body: createBody("OPP-BID"),
      headers: withKey("shared-key"),
      secret: OTHER_CLIENT_SECRET,
    });
    expect([omsRetry.json.data, biddingRetry.json.data]).toEqual([1, 2]);
    expect([omsRetry.headers.get("idempotent-replayed"), biddingRetry.headers.get("idempotent-replayed")]).toEqual(["true", "true"]);
    expect((await streamOf(service, "OPP-OMS"))[0]!.metadata).toMatchObject({ actor: "oms", idempotencyKey: "shared-key" });
    expect((await streamOf(service, "OPP-BID"))[0]!.metadata).toMatchObject({ actor: "bidding", idempotencyKey: "shared-key" });
    expect(await idempotencyKeysOf(service.tables)).toEqual([
      { client: "bidding", key: "shared-key" },
      { client: "oms", key: "shared-key" },
    ]);
  });

  test("a business rejection is replayed for the same key, even once it would no longer apply", async () => {
    const body = { opportunityCode: "OPP-GHOST", description: "补充说明" };
    const first = await call(service, "PUT", UPDATE_PATH, { body, headers: withKey("key-ghost") });
    expectFailure(first, 200, "商机不存在");
    expect(first.headers.get("etag")).toBeNull();

    expectSuccess(await call(service, "POST", CREATE_PATH, { body: createBody("OPP-GHOST") }));
    const retry = await call(service, "PUT", UPDATE_PATH, { body, headers: withKey("key-ghost") });
    expect(retry.text).toBe(first.text);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await streamOf(service, "OPP-GHOST")).toHaveLength(1);
    expect(await readRecord(service, "OPP-GHOST")).toMatchObject({ description: null, version: 1 });
  });

  test("a version conflict is replayed too, with its ETag", async () => {
    expectSuccess(await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-6") }));
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IDEM-6", amount: 3 } }));
    const body = { opportunityCode: "OPP-IDEM-6", amount: 4 };
    const first = await call(service, "PUT", UPDATE_PATH, { body, headers: withKey("key-6", { "if-match": '"1"' }) });
    expect(first.text).toBe('{"code":"-1","msg":"商机已被修改，当前版本为 2","data":null}');
    const retry = await call(service, "PUT", UPDATE_PATH, { body, headers: withKey("key-6", { "if-match": '"1"' }) });
    expect(retry.text).toBe(first.text);
    expect(retry.headers.get("etag")).toBe('"2"');
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await readRecord(service, "OPP-IDEM-6")).toMatchObject({ amount: 3, version: 2 });
  });

  test("If-Match is part of the request: another version, or a version once and none the other time, is another request", async () => {
    expectSuccess(await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-IFM") }));
    const body = { opportunityCode: "OPP-IDEM-IFM", amount: 4 };
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body, headers: withKey("key-ifm-1", { "if-match": '"1"' }) }));
    const before = await snapshot(service);
    // The same version however spelled is the same request: replayed.
    for (const spelling of ['"1"', "1", 'W/"1"']) {
      const retry = await call(service, "PUT", UPDATE_PATH, { body, headers: withKey("key-ifm-1", { "if-match": spelling }) });
      expect({ spelling, replayed: retry.headers.get("idempotent-replayed"), text: retry.text }).toEqual({
        spelling,
        replayed: "true",
        text: '{"code":"0","msg":"success","data":1}',
      });
    }
    // Without the condition, or with another version or *, its answer could differ: refused, nothing applied.
    for (const headers of [withKey("key-ifm-1"), withKey("key-ifm-1", { "if-match": '"2"' }), withKey("key-ifm-1", { "if-match": "*" })]) {
      expectFailure(await call(service, "PUT", UPDATE_PATH, { body, headers }), 200, MISMATCH);
    }
    expect(await snapshot(service)).toEqual(before);
    // And the other way round: a key first sent without If-Match is not replayed for a conditional retry.
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { ...body, amount: 5 }, headers: withKey("key-ifm-2") }));
    const conditional = await call(service, "PUT", UPDATE_PATH, { body: { ...body, amount: 5 }, headers: withKey("key-ifm-2", { "if-match": '"2"' }) });
    expectFailure(conditional, 200, MISMATCH);
    expect(await readRecord(service, "OPP-IDEM-IFM")).toMatchObject({ amount: 5, version: 3 });
  });

  test("If-Match: * and no If-Match are the same request (the update requires the opportunity either way)", async () => {
    expectSuccess(await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-ANY") }));
    const body = { opportunityCode: "OPP-IDEM-ANY", amount: 6 };
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body, headers: withKey("key-any-1", { "if-match": "*" }) }));
    const withoutHeader = await call(service, "PUT", UPDATE_PATH, { body, headers: withKey("key-any-1") });
    expect(withoutHeader.headers.get("idempotent-replayed")).toBe("true");
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { ...body, amount: 7 }, headers: withKey("key-any-2") }));
    const withStar = await call(service, "PUT", UPDATE_PATH, { body: { ...body, amount: 7 }, headers: withKey("key-any-2", { "if-match": "*" }) });
    expect(withStar.headers.get("idempotent-replayed")).toBe("true");
    expect(await streamOf(service, "OPP-IDEM-ANY")).toHaveLength(3);
  });

  test("the key is recorded in the event's metadata; a write without one records none", async () => {
    expectSuccess(
      await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-7"), headers: withKey("0f8e2c9a-key-7", { "x-request-id": "req-7a" }) }),
    );
    expectSuccess(await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IDEM-7", amount: 8 }, headers: { "x-request-id": "req-7b" } }));
    const events = await streamOf(service, "OPP-IDEM-7");
    expect(events.map((event) => event.metadata)).toEqual([
      { actor: "oms", requestId: "req-7a", idempotencyKey: "0f8e2c9a-key-7" },
      { actor: "oms", requestId: "req-7b" },
    ]);
  });

  test("malformed keys are reported in the envelope and nothing is written", async () => {
    // What a client sending "键-1" as UTF-8 puts on the wire, as the server reads header bytes (Latin-1).
    const utf8OnTheWire = Buffer.from("键-1", "utf8").toString("latin1");
    const cases: [string, string][] = [
      ["", '""'],
      ["two words", '"two words"'],
      ["k".repeat(256), `"${"k".repeat(56)}...`],
      ["clé", '"clé"'],
      [utf8OnTheWire, JSON.stringify(utf8OnTheWire)],
    ];
    const before = await snapshot(service);
    for (const [key, shown] of cases) {
      const answer = await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-8"), headers: withKey(key) });
      expectFailure(answer, 200, badKey(shown));
    }
    // On update, and alongside a body error: both are reported at once.
    const both = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: "OPP-IDEM-8" }, headers: withKey("two words") });
    expectFailure(both, 200);
    expect(reasonsOf(both.json.msg)).toEqual(["至少传入一个需要更新的字段", badKey('"two words"')]);
    expect(await snapshot(service)).toEqual(before);
    expect(await idempotencyKeysOf(service.tables)).toEqual([]);

    // 255 visible ASCII characters is the longest key accepted.
    const longest = "k".repeat(255);
    expect(expectSuccess(await call(service, "POST", CREATE_PATH, { body: createBody("OPP-IDEM-8"), headers: withKey(longest) }))).toBe(1);
    expect(await idempotencyKeysOf(service.tables)).toEqual([{ client: "oms", key: longest }]);
  });
});

describe("Idempotency keys across a restart and pruning", () => {
  const temp = useTestDatabase();

  test("keys survive a restart: the reopened service replays the first answer and still refuses another body", async () => {
    const first = await temp.open();
    const answer = await callApp(appFor(first), "POST", CREATE_PATH, { body: createBody("OPP-RESTART"), headers: withKey("key-restart") });
    expect(expectSuccess(answer)).toBe(1);
    await temp.close(first);

    const second = await temp.open();
    const app = appFor(second);
    const retry = await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-RESTART"), headers: withKey("key-restart") });
    expect(retry.text).toBe(answer.text);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.headers.get("etag")).toBe('"1"');
    const other = await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-RESTART-2"), headers: withKey("key-restart") });
    expectFailure(other, 200, MISMATCH);
    expect(await eventCount(second.tables)).toBe(1);
  });

  test("pruneIdempotencyKeys forgets keys first used before a date; the key is then usable afresh", async () => {
    const start = Date.UTC(2026, 3, 1, 8, 0, 0, 0);
    let nowMs = start;
    const hour = 3_600_000;
    const service = await temp.open({ now: () => new Date(nowMs) });
    const app = appFor(service);
    expectSuccess(await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-OLD"), headers: withKey("old-key") }));
    nowMs = start + 2 * hour;
    expectSuccess(await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-NEW"), headers: withKey("new-key") }));
    nowMs = start + 26 * hour;

    expect(await service.writer.pruneIdempotencyKeys(new Date(start + hour))).toBe(1);
    expect(await idempotencyKeysOf(service.tables)).toEqual([{ client: "oms", key: "new-key" }]);
    // A key used exactly at the cut-off was not used before it: kept.
    expect(await service.writer.pruneIdempotencyKeys(new Date(start + 2 * hour))).toBe(0);

    // The forgotten key: the same request is decided afresh (the code now exists), another body is accepted.
    const same = await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-OLD"), headers: withKey("old-key") });
    expectFailure(same, 200, "商机编号已存在: OPP-OLD");
    expect(same.headers.get("idempotent-replayed")).toBeNull();
    // That refusal is now what "old-key" answers; prune it again to reuse the key for another body.
    expect(await service.writer.pruneIdempotencyKeys(new Date(start + 27 * hour))).toBe(2);
    const reused = await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-OTHER"), headers: withKey("old-key") });
    expect(expectSuccess(reused)).toBe(3);
    expect(reused.headers.get("idempotent-replayed")).toBeNull();
    expect(await eventCount(service.tables)).toBe(3);
  });

  test("a kept key is still replayed after pruning older ones", async () => {
    const start = Date.UTC(2026, 3, 1, 8, 0, 0, 0);
    let nowMs = start;
    const service = await temp.open({ now: () => new Date(nowMs) });
    const app = appFor(service);
    expectSuccess(await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-A"), headers: withKey("key-a") }));
    nowMs = start + 10_000;
    const kept = await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-B"), headers: withKey("key-b") });
    expect(await service.writer.pruneIdempotencyKeys(new Date(start + 5_000))).toBe(1);
    const retry = await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-B"), headers: withKey("key-b") });
    expect(retry.text).toBe(kept.text);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    // The pruned one is decided afresh with another body.
    expect(expectSuccess(await callApp(app, "POST", CREATE_PATH, { body: createBody("OPP-C"), headers: withKey("key-a") }))).toBe(3);
  });
});

describe("Idempotency keys in the writer", () => {
  const temp = useTestDatabase();

  test("a second execute with a key still in flight resolves at once with in_flight; other clients and keys are not held up", async () => {
    const service = await temp.open();
    const claim = { client: "oms", key: "k-1", fingerprint: "fp-a" };
    const first = service.writer.execute(createCommand("OPP-W1"), META, claim);
    const sameKey = service.writer.execute(createCommand("OPP-W1"), META, claim);
    const otherBody = service.writer.execute(createCommand("OPP-W2"), META, { ...claim, fingerprint: "fp-b" });
    const otherClient = service.writer.execute(createCommand("OPP-W3"), META, { ...claim, client: "bidding" });
    const otherKey = service.writer.execute(createCommand("OPP-W4"), META, { ...claim, key: "k-2" });
    // The in-flight answers do not wait for the commit.
    expect(service.writer.pending).toBe(3);
    expect(await sameKey).toEqual({ ok: false, reason: "in_flight", message: IN_FLIGHT });
    expect(await otherBody).toEqual({ ok: false, reason: "in_flight", message: IN_FLIGHT });
    expect(service.writer.pending).toBe(3);

    const results = await Promise.all([first, otherClient, otherKey]);
    expect(results.map((result) => [result.ok, result.ok ? result.id : null])).toEqual([
      [true, 1],
      [true, 2],
      [true, 3],
    ]);
    expect(await eventCount(service.tables)).toBe(3);

    const replay = await service.writer.execute(createCommand("OPP-W1"), META, claim);
    expect(replay).toMatchObject({ ok: true, id: 1, version: 1, events: [], replayed: true });
    const mismatch = await service.writer.execute(createCommand("OPP-W9"), META, { ...claim, fingerprint: "fp-z" });
    expect(mismatch).toEqual({ ok: false, reason: "idempotency_mismatch", message: MISMATCH });
    expect(await eventCount(service.tables)).toBe(3);
  });

  test("a rejection and a no-op update are stored as outcomes and replayed without appending", async () => {
    const service = await temp.open();
    const claim = (key: string) => ({ client: "oms", key, fingerprint: `fp-${key}` });
    expect(await service.writer.execute(updateCommand("OPP-NONE", { amount: 1 }), META, claim("r"))).toEqual({
      ok: false,
      reason: "not_found",
      message: "商机不存在",
    });
    await service.writer.execute(createCommand("OPP-NOOP", { amount: 2 }), META);
    const noop = await service.writer.execute(updateCommand("OPP-NOOP", { amount: 2 }), META, claim("n"));
    expect(noop).toEqual({ ok: true, id: 1, version: 1, events: [] });
    expect(await service.writer.execute(updateCommand("OPP-NONE", { amount: 1 }), META, claim("r"))).toEqual({
      ok: false,
      reason: "not_found",
      message: "商机不存在",
      replayed: true,
    });
    expect(await service.writer.execute(updateCommand("OPP-NOOP", { amount: 2 }), META, claim("n"))).toEqual({
      ok: true,
      id: 1,
      version: 1,
      events: [],
      replayed: true,
    });
    expect(await eventCount(service.tables)).toBe(1);
  });
});
