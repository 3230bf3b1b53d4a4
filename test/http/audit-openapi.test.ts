import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBackendService, type BackendService } from "../support/test-service";
import { CREATE_PATH, UPDATE_PATH } from "./http-client";

// The OpenAPI document (GET /swagger/json) describes the audit routes, their query parameters and the 403.

let service: BackendService;
type Json = Record<string, any>;
let doc: Json;

beforeAll(async () => {
  service = await startBackendService();
  const response = await service.app.handle(new Request("http://localhost/swagger/json"));
  expect(response.status).toBe(200);
  doc = (await response.json()) as Json;
});
afterAll(() => service.dispose());

const HISTORY = "/api/opportunities/{opportunityCode}/history";
const READ = "/api/opportunities/{opportunityCode}";
const EVENTS = "/api/events";

const parameter = (path: string, name: string, where: string) => (doc.paths[path]?.get?.parameters ?? []).find((p: Json) => p.name === name && p.in === where);
const hasChinese = (text: unknown) => typeof text === "string" && /[\u4e00-\u9fff]/.test(text);

describe("the audit routes in the OpenAPI document", () => {
  test("history, events and the read route are documented as GET only, behind the secret", () => {
    for (const path of [HISTORY, READ, EVENTS]) {
      expect({ path, methods: Object.keys(doc.paths[path] ?? {}) }).toEqual({ path, methods: ["get"] });
      expect(doc.paths[path].get.security).toEqual([{ InternalSecret: [] }]);
      expect(hasChinese(doc.paths[path].get.summary)).toBe(true);
    }
  });

  test("history documents its path code and the afterVersion and limit query parameters with their bounds", () => {
    expect(parameter(HISTORY, "opportunityCode", "path")).toMatchObject({ required: true, schema: { type: "string" } });
    expect(parameter(HISTORY, "afterVersion", "query")).toMatchObject({ required: false, schema: { type: "integer", minimum: 0, default: 0 } });
    expect(parameter(HISTORY, "limit", "query")).toMatchObject({ required: false, schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } });
    expect(doc.paths[HISTORY].get.description).toContain("nextAfterVersion");
  });

  test("the event feed documents after and limit, and explains the hash and head", () => {
    expect(parameter(EVENTS, "after", "query")).toMatchObject({ required: false, schema: { type: "integer", minimum: 0, default: 0 } });
    expect(parameter(EVENTS, "limit", "query")).toMatchObject({ required: false, schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } });
    expect(parameter(EVENTS, "format", "query")).toMatchObject({ required: false, schema: { type: "string", enum: ["default", "stored"], default: "default" } });
    const description = doc.paths[EVENTS].get.description as string;
    for (const word of ["prevHash", "nextAfter", "head", "sha256", "format=stored", "prev_hash"]) expect(description).toContain(word);
  });

  test("the read route documents asOf and version as optional query parameters", () => {
    const asOf = parameter(READ, "asOf", "query");
    expect(asOf).toMatchObject({ required: false, schema: { type: "string" } });
    expect(asOf.description).toContain("2026-04-01");
    expect(parameter(READ, "version", "query")).toMatchObject({ required: false, schema: { type: "integer", minimum: 1 } });
    expect(doc.paths[READ].get.description).toContain("尚未创建");
  });

  test("each route's query parameters are exactly the ones the route accepts", () => {
    const queryNames = (path: string) => (doc.paths[path].get.parameters as Json[]).filter((p) => p.in === "query").map((p) => p.name).sort();
    expect(queryNames(HISTORY)).toEqual(["afterVersion", "limit"]);
    expect(queryNames(EVENTS)).toEqual(["after", "format", "limit"]);
    expect(queryNames(READ)).toEqual(["asOf", "version"]);
  });

  test("no parameter is listed twice (OpenAPI requires name + in to be unique)", () => {
    for (const path of [HISTORY, READ, EVENTS]) {
      const keys = (doc.paths[path].get.parameters as Json[]).map((p) => `${p.in}:${p.name}`);
      expect({ path, keys: [...new Set(keys)] }).toEqual({ path, keys });
    }
  });

  test("the write routes document the 403 an auditor gets, with its envelope example", () => {
    for (const [path, method] of [[UPDATE_PATH, "put"], [CREATE_PATH, "post"]] as const) {
      const forbidden = doc.paths[path][method].responses["403"];
      expect(forbidden).toBeDefined();
      expect(hasChinese(forbidden.description)).toBe(true);
      const example = forbidden.content["application/json;charset=UTF-8"].example;
      expect(example).toMatchObject({ code: "-1", data: null });
      expect(example.msg).toContain("auditor");
    }
  });

  test("the audit routes are tagged 审计 and the roles are explained", () => {
    expect(doc.paths[HISTORY].get.tags).toEqual(["审计"]);
    expect(doc.paths[EVENTS].get.tags).toEqual(["审计"]);
    expect((doc.tags as Json[]).map((tag) => tag.name)).toContain("审计");
    expect(doc.info.description).toContain("auditor");
    expect(doc.info.description).toContain("403");
  });
});
