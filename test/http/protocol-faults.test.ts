import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TEST_SECRET, startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, JSON_UTF8, UPDATE_PATH, call, createOpportunity, expectFailure, readPath, snapshot, streamOf, type SendOptions } from "./http-client";

// Protocol faults answer their own HTTP status, still in the envelope, and change nothing.
let service: BackendService;
const CODE = "OPP-PROTO-001";
const LIMIT = 64 * 1024;
const valid = { opportunityCode: CODE, stage: "won" };

beforeAll(async () => {
  service = await startBackendService();
  await createOpportunity(service, { opportunityCode: CODE, stage: "solution" });
});
afterAll(() => service.dispose());

/** A valid update body padded with spaces to exactly `bytes` bytes. */
function paddedBody(bytes: number): string {
  const text = JSON.stringify(valid);
  return text.slice(0, -1) + " ".repeat(bytes - Buffer.byteLength(text)) + "}";
}

interface FaultCase {
  name: string;
  method?: string;
  path?: string;
  options: SendOptions;
  status: number;
  msg: string | RegExp;
}

const UNAUTHORIZED = "内部接口鉴权失败";
const wrong = "wrong-secret-0123456789abcdef";

const faults: FaultCase[] = [
  // Authentication comes first, whatever the body holds.
  { name: "no secret, valid body", options: { body: valid, secret: null }, status: 401, msg: UNAUTHORIZED },
  { name: "wrong secret, valid body", options: { body: valid, secret: wrong }, status: 401, msg: UNAUTHORIZED },
  { name: "empty secret", options: { body: valid, secret: "" }, status: 401, msg: UNAUTHORIZED },
  { name: "secret with an extra character", options: { body: valid, secret: "test-secret-0123456789abcdefX" }, status: 401, msg: UNAUTHORIZED },
  { name: "wrong secret, broken JSON", options: { rawBody: "{not json", secret: wrong }, status: 401, msg: UNAUTHORIZED },
  { name: "no secret, broken JSON", options: { rawBody: "{not json", secret: null }, status: 401, msg: UNAUTHORIZED },
  { name: "no secret, text/plain", options: { rawBody: "hello", contentType: "text/plain", secret: null }, status: 401, msg: UNAUTHORIZED },
  { name: "wrong secret, oversize body", options: { rawBody: paddedBody(LIMIT + 1), secret: wrong }, status: 401, msg: UNAUTHORIZED },
  { name: "no secret, empty body", options: { rawBody: "", secret: null }, status: 401, msg: UNAUTHORIZED },
  { name: "no secret, validation errors", options: { body: { stage: "xxx", foo: 1 }, secret: null }, status: 401, msg: UNAUTHORIZED },
  { name: "no secret, create", path: CREATE_PATH, method: "POST", options: { body: { opportunityCode: "X", opportunityName: "n", endCustomerName: "c" }, secret: null }, status: 401, msg: UNAUTHORIZED },
  { name: "no secret, unknown /api route", path: "/api/nothing", options: { body: valid, secret: null }, status: 401, msg: UNAUTHORIZED },

  // 400: not JSON.
  { name: "broken JSON", options: { rawBody: "{not json" }, status: 400, msg: "请求体不是合法的 JSON" },
  { name: "truncated JSON", options: { rawBody: '{"opportunityCode":"OPP-PROTO-001","stage":"won"' }, status: 400, msg: "请求体不是合法的 JSON" },
  { name: "trailing garbage", options: { rawBody: '{"opportunityCode":"OPP-PROTO-001","stage":"won"} x' }, status: 400, msg: "请求体不是合法的 JSON" },
  { name: "single quotes", options: { rawBody: "{'opportunityCode':'OPP-PROTO-001'}" }, status: 400, msg: "请求体不是合法的 JSON" },
  { name: "form-encoded text declared as JSON", options: { rawBody: "opportunityCode=OPP-PROTO-001&stage=won" }, status: 400, msg: "请求体不是合法的 JSON" },
  { name: "empty body", options: { rawBody: "" }, status: 400, msg: "请求体不能为空" },
  { name: "whitespace body", options: { rawBody: "  \n " }, status: 400, msg: "请求体不能为空" },
  { name: "invalid UTF-8", options: { rawBody: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }, status: 400, msg: "请求体不是合法的 UTF-8 文本" },

  // 415: wrong content type (with a valid JSON body, so the type alone is at fault).
  { name: "text/plain", options: { body: valid, contentType: "text/plain" }, status: 415, msg: "Content-Type 必须是 application/json" },
  { name: "no content type", options: { body: valid, contentType: null }, status: 415, msg: "Content-Type 必须是 application/json" },
  { name: "form urlencoded", options: { body: valid, contentType: "application/x-www-form-urlencoded" }, status: 415, msg: "Content-Type 必须是 application/json" },
  { name: "application/xml", options: { body: valid, contentType: "application/xml" }, status: 415, msg: "Content-Type 必须是 application/json" },
  { name: "application/jsonp", options: { body: valid, contentType: "application/jsonp" }, status: 415, msg: "Content-Type 必须是 application/json" },

  // 413: body over 64 KiB.
  { name: "body of 64 KiB + 1 byte", options: { rawBody: paddedBody(LIMIT + 1) }, status: 413, msg: /64 KiB/ },
  { name: "body of 1 MiB", options: { rawBody: paddedBody(1024 * 1024) }, status: 413, msg: /64 KiB/ },

  // 404 and 405.
  { name: "unknown /api route", method: "PUT", path: "/api/opportunities/integration/upsert", options: { body: valid }, status: 404, msg: /upsert/ },
  { name: "unknown route outside /api, with a secret", method: "GET", path: "/nothing-here", options: {}, status: 404, msg: /nothing-here/ },
  // Default deny: no route runs for an unknown path, and only a declared public route answers without a secret.
  { name: "unknown route outside /api, without a secret", method: "GET", path: "/nothing-here", options: { secret: null }, status: 401, msg: "内部接口鉴权失败" },
  { name: "GET on the update path", method: "GET", options: {}, status: 405, msg: /GET/ },
  { name: "POST on the update path", method: "POST", options: { body: valid }, status: 405, msg: /POST/ },
  { name: "DELETE on the read path", method: "DELETE", path: readPath(CODE), options: {}, status: 405, msg: /DELETE/ },
  { name: "PUT on the create path", method: "PUT", path: CREATE_PATH, options: { body: valid }, status: 405, msg: /PUT/ },
];

describe("protocol faults answer their own status in the envelope and change nothing", () => {
  test.each(faults.map((entry) => [entry.name, entry] as const))("%s", async (_name, entry) => {
    const before = await snapshot(service);
    const answer = await call(service, entry.method ?? "PUT", entry.path ?? UPDATE_PATH, entry.options);
    expectFailure(answer, entry.status);
    if (typeof entry.msg === "string") expect(answer.json.msg).toBe(entry.msg);
    else expect(answer.json.msg).toMatch(entry.msg);
    expect(answer.json.msg).toMatch(/[\u4e00-\u9fff]/);
    expect(await snapshot(service)).toEqual(before);
  });

  test("a body of exactly 64 KiB is within the limit", async () => {
    const answer = await call(service, "PUT", UPDATE_PATH, { rawBody: paddedBody(LIMIT) });
    expect(answer.status).toBe(200);
    expect(answer.json.code).toBe("0");
  });

  test("an oversize body sent without Content-Length (chunked) is refused too", async () => {
    const before = await snapshot(service);
    const text = paddedBody(LIMIT * 2);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode(text);
        for (let offset = 0; offset < bytes.length; offset += 8192) controller.enqueue(bytes.slice(offset, offset + 8192));
        controller.close();
      },
    });
    const request = new Request(`http://localhost${UPDATE_PATH}`, {
      method: "PUT",
      headers: { "content-type": "application/json", "x-internal-secret": TEST_SECRET },
      body,
      duplex: "half",
    } as RequestInit);
    expect(request.headers.get("content-length")).toBeNull();
    const response = await service.app.handle(request);
    expect(response.status).toBe(413);
    expect(response.headers.get("content-type")).toBe(JSON_UTF8);
    expect(await response.json()).toEqual({ code: "-1", msg: expect.stringContaining("64 KiB"), data: null });
    expect(await snapshot(service)).toEqual(before);
  });

  test.each([
    ["GET", UPDATE_PATH, "PUT"],
    ["DELETE", UPDATE_PATH, "PUT"],
    ["DELETE", readPath(CODE), "GET"],
    ["PUT", readPath(CODE), "GET"],
    ["GET", CREATE_PATH, "POST"],
  ])("405 for %s %s has Allow: %s", async (method, path, allow) => {
    const answer = await call(service, method, path, { body: method === "GET" ? undefined : valid });
    expectFailure(answer, 405);
    expect(answer.headers.get("allow")).toBe(allow);
  });
});

describe("X-Request-Id", () => {
  test("the caller's id is echoed and stored in the event metadata", async () => {
    const answer = await call(service, "PUT", UPDATE_PATH, {
      body: { opportunityCode: CODE, source: "招投标系统" },
      headers: { "x-request-id": "req-2026-04-30-0001" },
    });
    expect(answer.json.code).toBe("0");
    expect(answer.headers.get("x-request-id")).toBe("req-2026-04-30-0001");
    const last = (await streamOf(service, CODE)).at(-1)!;
    expect(last.data).toEqual({ changes: { source: "招投标系统" }, previous: { source: null } });
    expect(last.metadata.requestId).toBe("req-2026-04-30-0001");
  });

  test("without one the service makes one, answers it and stores the same", async () => {
    const answer = await call(service, "PUT", UPDATE_PATH, { body: { opportunityCode: CODE, source: "OMS" } });
    expect(answer.json.code).toBe("0");
    const id = answer.headers.get("x-request-id");
    expect(id).toBeString();
    expect(id!.length).toBeGreaterThan(0);
    expect((await streamOf(service, CODE)).at(-1)!.metadata.requestId).toBe(id!);
  });

  test.each([
    ["401", { body: valid, secret: null }, 401, UPDATE_PATH, "PUT"],
    ["400", { rawBody: "{" }, 400, UPDATE_PATH, "PUT"],
    ["415", { body: valid, contentType: "text/plain" }, 415, UPDATE_PATH, "PUT"],
    ["404", { body: valid }, 404, "/api/nothing", "PUT"],
    ["405", {}, 405, UPDATE_PATH, "GET"],
    ["business failure", { body: { opportunityCode: "OPP-NO-SUCH", stage: "won" } }, 200, UPDATE_PATH, "PUT"],
  ] as const)("is echoed on a %s answer", async (_label, options, status, path, method) => {
    const answer = await call(service, method, path, { ...(options as SendOptions), headers: { "x-request-id": "trace-xyz" } });
    expectFailure(answer, status);
    expect(answer.headers.get("x-request-id")).toBe("trace-xyz");
  });
});

describe("500", () => {
  test("an unexpected error answers 500 in the envelope without leaking the cause", async () => {
    const broken = await startBackendService();
    try {
      await createOpportunity(broken, { opportunityCode: CODE });
      // Break the store underneath the app: the projection table is gone.
      await broken.tables.run("DROP TABLE opportunities");
      const answer = await call(broken, "PUT", UPDATE_PATH, { body: valid, headers: { "x-request-id": "req-500" } });
      expectFailure(answer, 500, "服务器内部错误，请稍后重试");
      expect(answer.headers.get("x-request-id")).toBe("req-500");
      expect(answer.text).not.toMatch(/opportunities|sqlite|no such table/i);
    } finally {
      await broken.dispose();
    }
  });
});
