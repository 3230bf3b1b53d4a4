import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AUDITOR_SECRET, OTHER_CLIENT_SECRET, TEST_SECRET, startBackendService, type BackendService } from "../support/test-service";
import { CONTRACT_EXAMPLE, CREATE_PATH, JSON_UTF8, UPDATE_PATH, call, createOpportunity, expectFailure, expectSuccess, readPath, send, snapshot, update, type StoreSnapshot } from "./http-client";

// Roles: the auditor "audit-firm" may call every GET route, but any write answers HTTP 403 in the envelope
// before its body is read, and writes nothing. Integrators keep writing.

let service: BackendService;
const CODE = CONTRACT_EXAMPLE.opportunityCode;
const FORBIDDEN = "密钥 audit-firm 为只读审计（auditor）角色，不能调用写接口";
const FORBIDDEN_TEXT = `{"code":"-1","msg":"${FORBIDDEN}","data":null}`;
/** The store as it was after the fixture's writes; every refused write must leave it exactly so. */
let baseline: StoreSnapshot;

beforeAll(async () => {
  service = await startBackendService({ now: () => new Date("2026-04-01T08:00:00.000Z") });
  await createOpportunity(service, { opportunityCode: CODE, stage: "negotiation", amount: 100 });
  expectSuccess(await update(service, { opportunityCode: CODE, amount: 200 }));
  baseline = await snapshot(service);
});
afterAll(() => service.dispose());

const asAuditor = (method: string, path: string, options: Parameters<typeof call>[3] = {}) => call(service, method, path, { ...options, secret: AUDITOR_SECRET });

describe("the auditor's reads", () => {
  test.each([
    ["the current record", readPath(CODE)],
    ["the record at a version", `${readPath(CODE)}?version=1`],
    ["the record at a time", `${readPath(CODE)}?asOf=2026-04-01`],
    ["the history", `/api/opportunities/${CODE}/history`],
    ["a page of history", `/api/opportunities/${CODE}/history?afterVersion=1&limit=1`],
    ["the event feed", "/api/events"],
    ["a page of the event feed", "/api/events?after=1&limit=1"],
  ])("%s: succeeds, and answers exactly what an integrator gets", async (_label, path) => {
    const auditor = await asAuditor("GET", path);
    expectSuccess(auditor);
    const integrator = await call(service, "GET", path);
    expect(auditor.text).toBe(integrator.text);
  });

  test("an unknown code is a business answer (商机不存在, HTTP 200), not a 403", async () => {
    expectFailure(await asAuditor("GET", readPath("OPP-ROLE-NONE")), 200, "商机不存在");
    expectFailure(await asAuditor("GET", "/api/opportunities/OPP-ROLE-NONE/history"), 200, "商机不存在");
  });

  test("the docs answer the auditor too", async () => {
    const response = await send(service, "GET", "/swagger/json", { secret: AUDITOR_SECRET });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe(JSON_UTF8);
  });

  test("the auditor's reads write nothing", async () => {
    expect(await snapshot(service)).toEqual(baseline);
  });
});

describe("the auditor's writes are refused with 403", () => {
  test("PUT update with a valid body: 403, the envelope naming audit-firm, X-Request-Id echoed, nothing written", async () => {
    const answer = await asAuditor("PUT", UPDATE_PATH, { body: { opportunityCode: CODE, stage: "won", amount: 999 }, headers: { "x-request-id": "audit-put-1" } });
    expectFailure(answer, 403, FORBIDDEN);
    expect(answer.text).toBe(FORBIDDEN_TEXT);
    expect(answer.headers.get("x-request-id")).toBe("audit-put-1");
    expect(answer.text).not.toContain(AUDITOR_SECRET);
    expect(await snapshot(service)).toEqual(baseline);
    expect(((await call(service, "GET", readPath(CODE))).json.data as Record<string, unknown>)).toMatchObject({ stage: "negotiation", amount: 200, version: 2 });
  });

  test("POST create with a valid body: 403 and the opportunity does not exist", async () => {
    const answer = await asAuditor("POST", CREATE_PATH, { body: { opportunityCode: "OPP-ROLE-NEW", opportunityName: "审计方创建", endCustomerName: "某局" } });
    expectFailure(answer, 403, FORBIDDEN);
    expect(await snapshot(service)).toEqual(baseline);
    expectFailure(await call(service, "GET", readPath("OPP-ROLE-NEW")), 200, "商机不存在");
  });

  // For each body an integrator gets its own fault (so the body really is bad); the auditor gets 403 before
  // the body is looked at.
  const TOO_LARGE = `{"opportunityCode":"${CODE}","description":"${"x".repeat(100 * 1024)}"}`;
  test.each([
    ["a non-JSON body", { rawBody: "{not json" }, 400],
    ["an empty body", { rawBody: "" }, 400],
    ["bytes that are not UTF-8", { rawBody: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) }, 400],
    ["a wrong content type", { rawBody: JSON.stringify({ opportunityCode: CODE, stage: "won" }), contentType: "text/plain" }, 415],
    ["no content type", { rawBody: JSON.stringify({ opportunityCode: CODE, stage: "won" }), contentType: null }, 415],
    ["a body over the size limit", { rawBody: TOO_LARGE }, 413],
    ["invalid field values", { body: { opportunityCode: CODE, stage: "nonsense", confidencePct: "Z" } }, 200],
    ["an unknown opportunity", { body: { opportunityCode: "OPP-ROLE-NONE", stage: "won" } }, 200],
  ] as const)("a write (PUT and POST) with %s: 403 for the auditor", async (_label, options, integratorStatus) => {
    for (const method of ["PUT", "POST"] as const) {
      const path = method === "PUT" ? UPDATE_PATH : CREATE_PATH;
      const integrator = await call(service, method, path, options);
      expect(integrator.status).toBe(integratorStatus);
      expect(integrator.json.code).toBe("-1");
      expectFailure(await asAuditor(method, path, options), 403, FORBIDDEN);
    }
    expect(await snapshot(service)).toEqual(baseline);
  });

  /** A body that records whether anyone read it; highWaterMark 0 keeps the stream from pulling by itself. */
  function watchedBody(text: string) {
    const watch = { pulled: false };
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          watch.pulled = true;
          controller.enqueue(new TextEncoder().encode(text));
          controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    return { stream, watch };
  }

  const sendStream = (secret: string, stream: ReadableStream<Uint8Array>) =>
    service.app.handle(
      new Request(`http://localhost${UPDATE_PATH}`, {
        method: "PUT",
        headers: { "content-type": "application/json", "x-internal-secret": secret },
        body: stream,
        duplex: "half",
      } as RequestInit),
    );

  test("the auditor's body is never read; an integrator's is (so the probe works)", async () => {
    const refused = watchedBody(JSON.stringify({ opportunityCode: CODE, stage: "won" }));
    const response = await sendStream(AUDITOR_SECRET, refused.stream);
    expect(response.status).toBe(403);
    expect(await response.text()).toBe(FORBIDDEN_TEXT);
    expect(refused.watch.pulled).toBe(false);
    expect(await snapshot(service)).toEqual(baseline);

    await createOpportunity(service, { opportunityCode: "OPP-ROLE-STREAM" });
    const accepted = watchedBody(JSON.stringify({ opportunityCode: "OPP-ROLE-STREAM", stage: "won" }));
    const ok = await sendStream(TEST_SECRET, accepted.stream);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { code: string }).code).toBe("0");
    expect(accepted.watch.pulled).toBe(true);
    baseline = await snapshot(service);
  });

  test.each([
    ["a trailing slash", `${UPDATE_PATH}/`],
    ["a query string", `${UPDATE_PATH}?dryRun=1`],
    ["a percent-encoded letter", "/api/opportunities/integration/%75pdate"],
    ["a doubled slash", "/api//opportunities/integration/update"],
  ])("a write path spelled with %s is refused too and writes nothing", async (_label, path) => {
    const answer = await asAuditor("PUT", path, { body: { opportunityCode: CODE, stage: "won" } });
    expect(answer.status).toBe(403);
    expect(answer.json).toEqual({ code: "-1", msg: FORBIDDEN, data: null });
    expect(await snapshot(service)).toEqual(baseline);
  });
});

describe("authentication comes first", () => {
  test.each([
    ["no secret", null],
    ["a wrong secret", "wrong-secret-0123456789abcdef"],
    ["the auditor's secret in upper case", AUDITOR_SECRET.toUpperCase()],
    ["the auditor's secret with a suffix", `${AUDITOR_SECRET}x`],
  ])("%s on a write with a broken body: 401, not 403 or 400", async (_label, secret) => {
    for (const [method, path] of [["PUT", UPDATE_PATH], ["POST", CREATE_PATH]] as const) {
      expectFailure(await call(service, method, path, { rawBody: "{not json", secret }), 401, "内部接口鉴权失败");
      expectFailure(await call(service, method, path, { rawBody: "x", contentType: "text/plain", secret }), 401, "内部接口鉴权失败");
    }
    expectFailure(await call(service, "GET", "/api/events", { secret }), 401, "内部接口鉴权失败");
    expect(await snapshot(service)).toEqual(baseline);
  });
});

describe("integrators still write", async () => {
  test("oms updates and bidding creates after the auditor was refused; each is recorded as its own actor", async () => {
    expectFailure(await asAuditor("PUT", UPDATE_PATH, { body: { opportunityCode: CODE, stage: "lost" } }), 403, FORBIDDEN);
    const before = await snapshot(service);
    expectSuccess(await update(service, { opportunityCode: CODE, stage: "won" }));
    expectSuccess(await call(service, "POST", CREATE_PATH, { body: { opportunityCode: "OPP-ROLE-BID", opportunityName: "招投标创建", endCustomerName: "某局" }, secret: OTHER_CLIENT_SECRET }));
    expect((await snapshot(service)).events).toBe(before.events + 2);
    expect(((await call(service, "GET", readPath(CODE))).json.data as Record<string, unknown>).stage).toBe("won");

    const last = await service.storage.readAll(before.events, 10);
    expect(last.map((event) => [event.streamId, event.type, event.metadata.actor])).toEqual([
      [CODE, "OpportunityUpdated", "oms"],
      ["OPP-ROLE-BID", "OpportunityCreated", "bidding"],
    ]);
  });

  test("no event in the store was ever recorded with the auditor as actor", async () => {
    const events = await service.storage.readAll(0, 10_000);
    expect(events.length).toBe((await snapshot(service)).events);
    expect([...new Set(events.map((event) => event.metadata.actor))].sort()).toEqual(["bidding", "oms"]);
  });
});
