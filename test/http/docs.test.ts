import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBackendService, type BackendService } from "../support/test-service";
import { CONTRACT_EXAMPLE, CONTRACT_FIELDS, JSON_UTF8, UPDATE_PATH, call, expectFailure } from "./http-client";

// The docs are served by the service itself, without a secret and without internet access.
let service: BackendService;
const get = (path: string, headers: Record<string, string> = {}) => service.app.handle(new Request(`http://localhost${path}`, { headers }));

type Json = Record<string, any>;
let doc: Json;

beforeAll(async () => {
  service = await startBackendService();
  const response = await get("/swagger/json");
  expect(response.status).toBe(200);
  doc = (await response.json()) as Json;
});
afterAll(() => service.dispose());

const hasChinese = (text: unknown) => typeof text === "string" && /[\u4e00-\u9fff]/.test(text);

describe("GET /swagger/json", () => {
  test("needs no secret and is JSON with the explicit UTF-8 charset", async () => {
    const response = await get("/swagger/json");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe(JSON_UTF8);
    expect(((await response.json()) as Json).openapi).toMatch(/^3\./);
  });

  test("a wrong secret does not keep anyone from the docs", async () => {
    expect((await get("/swagger/json", { "x-internal-secret": "wrong-secret-0123456789" })).status).toBe(200);
  });

  test("is OpenAPI 3 in Chinese", () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(hasChinese(doc.info.title)).toBe(true);
    expect(hasChinese(doc.info.description)).toBe(true);
  });

  test("documents PUT on the update path with the contract's request example", () => {
    const put = doc.paths[UPDATE_PATH]?.put;
    expect(put).toBeDefined();
    expect(hasChinese(put.summary)).toBe(true);
    expect(put.requestBody.content["application/json"].example).toEqual(CONTRACT_EXAMPLE);
  });

  test("describes every contract field in the request schema, the code as required", () => {
    const schema = doc.paths[UPDATE_PATH].put.requestBody.content["application/json"].schema;
    expect(schema.required).toEqual(["opportunityCode"]);
    expect(Object.keys(schema.properties).sort()).toEqual([...CONTRACT_FIELDS].sort());
    for (const field of CONTRACT_FIELDS) {
      expect({ field, described: hasChinese(schema.properties[field].description) }).toEqual({ field, described: true });
    }
    // Types as the contract's table gives them, widened to every form the service accepts.
    expect(schema.properties.amount.type).toBe("number");
    expect(schema.properties.archived.type).toBe("boolean");
    expect(schema.properties.salesExpansionId.anyOf.map((form: Json) => form.type)).toEqual(["integer", "string"]);
    expect(schema.properties.omsPushTime.anyOf.map((form: Json) => form.type)).toEqual(["string", "integer"]);
    const matches = (field: string, value: string) => new RegExp(schema.properties[field].pattern).test(value);
    for (const status of ["active", "closed", "won", "lost", "WON", " Lost "]) expect({ status, ok: matches("status", status) }).toEqual({ status, ok: true });
    for (const status of ["wonn", "", "open"]) expect({ status, ok: matches("status", status) }).toEqual({ status, ok: false });
    for (const level of ["A", "b", " c "]) expect({ level, ok: matches("confidencePct", level) }).toEqual({ level, ok: true });
    for (const level of ["D", "AB", ""]) expect({ level, ok: matches("confidencePct", level) }).toEqual({ level, ok: false });
  });

  test("documents the field rules decided beyond the contract", () => {
    const put = doc.paths[UPDATE_PATH].put;
    const text = JSON.stringify(put);
    for (const phrase of ["null", "；", "最终客户", "至少传入一个需要更新的字段", "项目阶段无效", "项目把握度仅支持A、B、C", "内部接口鉴权失败", "商机不存在", "opportunityCode 不能为空"]) {
      expect({ phrase, found: text.includes(phrase) }).toEqual({ phrase, found: true });
    }
  });

  test("declares the X-Internal-Secret security scheme and uses it on the update", () => {
    const schemes = doc.components.securitySchemes as Record<string, Json>;
    const entry = Object.entries(schemes).find(([, scheme]) => scheme.type === "apiKey" && scheme.in === "header" && scheme.name === "X-Internal-Secret");
    expect(entry).toBeDefined();
    const [name] = entry!;
    expect(doc.paths[UPDATE_PATH].put.security).toEqual([{ [name]: [] }]);
  });

  test("documents responses 200/400/401/403/405/413/415/429/500/503, each with a description", () => {
    const responses = doc.paths[UPDATE_PATH].put.responses as Record<string, Json>;
    expect(Object.keys(responses).sort()).toEqual(["200", "400", "401", "403", "405", "413", "415", "429", "500", "503"]);
    for (const [status, response] of Object.entries(responses)) {
      expect({ status, described: hasChinese(response.description) }).toEqual({ status, described: true });
      expect({ status, types: Object.keys(response.content ?? {}) }).toEqual({ status, types: [JSON_UTF8] });
    }
    expect(responses["401"]!.content[JSON_UTF8].example).toEqual({ code: "-1", msg: "内部接口鉴权失败", data: null });
    const success = responses["200"]!.content[JSON_UTF8];
    // A success or a business failure, told apart by code.
    expect(success.schema.oneOf.map((form: Json) => form.properties.code.enum)).toEqual([["0"], ["-1"]]);
    expect(JSON.stringify(success)).toContain('"code":"0","msg":"success","data":123');
  });

  test("lists the write, read, audit and health routes but not the docs' own routes", () => {
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/api/audit/verifications",
      "/api/audit/verifications/{id}",
      "/api/events",
      "/api/events/stream",
      "/api/opportunities/integration/batch-update",
      "/api/opportunities/integration/create",
      "/api/opportunities/integration/update",
      "/api/opportunities/{opportunityCode}",
      "/api/opportunities/{opportunityCode}/history",
      "/api/stages",
      "/healthz",
      "/readyz",
    ]);
  });
});

describe("GET /swagger", () => {
  let html: string;

  beforeAll(async () => {
    const response = await get("/swagger");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/html");
    html = await response.text();
  });

  test("is HTML that loads its script from a local path", () => {
    expect(html).toContain("<html");
    const sources = [...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((match) => match[1]);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) expect(source).toStartWith("/swagger/assets/");
  });

  test("has no http(s) URL, so no CDN script and no web font", () => {
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/\/\/(cdn|fonts|unpkg)/i);
    expect(html).not.toMatch(/@import|@font-face/i);
    // Scalar's default fonts and telemetry are switched off.
    expect(html).toContain('"withDefaultFonts":false');
    expect(html).toContain('"telemetry":false');
  });

  test("the page's requests go to its own host, the secret is the preselected scheme, and no If-Match is filled in", () => {
    const configuration = JSON.parse(/data-configuration='([^']*)'/.exec(html)![1]!) as Json;
    expect(configuration.authentication).toEqual({ preferredSecurityScheme: "InternalSecret" });
    expect(doc.servers).toEqual([{ url: "/", description: expect.any(String) }]);
    const ifMatch = (doc.paths[UPDATE_PATH].put.parameters as Json[]).find((parameter) => parameter.name === "If-Match")!;
    expect(ifMatch.required).toBe(false);
    expect(ifMatch.example).toBeUndefined();
    expect(ifMatch.schema.example).toBeUndefined();
    expect(ifMatch.schema.default).toBeUndefined();
  });

  test("the script route answers 200 with the JavaScript bundle, without a secret", async () => {
    const source = /<script[^>]*\ssrc="([^"]+)"/.exec(html)![1]!;
    const response = await get(source);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/javascript/);
    const script = await response.text();
    expect(script.length).toBeGreaterThan(100_000);
    expect(script).not.toStartWith("<");
  });

  test("the spec the page loads resolves to the OpenAPI document", async () => {
    const url = /data-url="([^"]+)"/.exec(html)?.[1];
    expect(url).toBeDefined();
    const resolved = new URL(url!, "http://localhost/swagger");
    expect(resolved.origin).toBe("http://localhost");
    const response = await get(resolved.pathname);
    expect(response.status).toBe(200);
    expect(((await response.json()) as Json).openapi).toMatch(/^3\./);
  });
});

describe("docs routes and wrong methods", () => {
  test("POST /swagger/json is 405 with Allow: GET, like every other wrong method", async () => {
    const answer = await call(service, "POST", "/swagger/json", { secret: null });
    expectFailure(answer, 405);
    expect(answer.headers.get("allow")).toBe("GET");
  });
});
