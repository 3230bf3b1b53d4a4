/**
 * GET /console and its assets through app.handle: public (the page holds no data), served from the code (no
 * file on disk, no CDN), under a Content-Security-Policy that allows this origin only, and nothing in the page,
 * its style or its script names another host. What the page does in a browser is test/e2e/console-browser.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CONSOLE_CSP } from "../../src/http/console-routes";
import { startBackendService, type BackendService } from "../support/test-service";
import { send } from "./http-client";

let service: BackendService;
beforeAll(async () => {
  service = await startBackendService();
});
afterAll(() => service.dispose());

const ASSETS = [
  ["/console", "text/html; charset=utf-8"],
  ["/console/assets/console.js", "text/javascript; charset=utf-8"],
  ["/console/assets/console.css", "text/css; charset=utf-8"],
] as const;

describe("the console's files", () => {
  test.each(ASSETS)("%s: 200 without a secret, its type, the CSP and no-sniff", async (path, type) => {
    const response = await send(service, "GET", path, { secret: null });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe(type);
    expect(response.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("x-request-id")).toBeTruthy();
    expect((await response.text()).length).toBeGreaterThan(1000);
  });

  test("the policy allows this origin only: no other source, no inline script or style, no form submission, no framing", () => {
    const directives = Object.fromEntries(CONSOLE_CSP.split(";").map((part) => part.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
    expect(directives).toEqual({ "default-src": ["'self'"], "object-src": ["'none'"], "base-uri": ["'none'"], "form-action": ["'none'"], "frame-ancestors": ["'none'"] });
  });

  test("nothing in the page, its style or its script names another host (the SVG namespace is a name, not a request)", async () => {
    for (const [path] of ASSETS) {
      const text = await (await send(service, "GET", path, { secret: null })).text();
      const urls = [...text.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*/gi)].map((match) => match[0]);
      expect({ path, urls: urls.filter((url) => url !== "http://www.w3.org/2000/svg") }).toEqual({ path, urls: [] });
      expect(text).not.toMatch(/@import|@font-face|fonts\.googleapis|cdn\./i);
    }
  });

  test("the page names its labels, its assets by path, and the service's zone and field names in a data block", async () => {
    const html = await (await send(service, "GET", "/console", { secret: null })).text();
    for (const label of ["访问密钥", "登录", "退出", "商机编号", "查询", "变更历史", "查看时间点", "查看版本", "预期链头", "校验", 'role="progressbar"']) expect(html).toContain(label);
    expect(html).toContain('<script type="module" src="/console/assets/console.js"></script>');
    expect(html).toContain('<link rel="stylesheet" href="/console/assets/console.css">');
    const config = JSON.parse(/<script type="application\/json" id="console-config">(.*?)<\/script>/s.exec(html)![1]!);
    expect(config.timeZone).toBe("Asia/Shanghai");
    expect(config.fields).toContainEqual({ name: "amount", label: "商机金额" });
    expect(config.fields).toContainEqual({ name: "stage", label: "项目阶段" });
    expect(config.fields).toHaveLength(20);
  });

  test("the Chinese font stack names a font of each desktop system", async () => {
    const css = await (await send(service, "GET", "/console/assets/console.css", { secret: null })).text();
    for (const font of ["Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei"]) expect(css).toContain(`"${font}"`);
  });
});

describe("access", () => {
  test("with a trailing slash the page is public too; anything else under /console needs the secret (default deny)", async () => {
    expect((await send(service, "GET", "/console/", { secret: null })).status).toBe(200);
    for (const path of ["/console/x", "/console/assets/other.js", "/console/assets/console.js/x"]) {
      expect({ path, status: (await send(service, "GET", path, { secret: null })).status }).toEqual({ path, status: 401 });
    }
  });

  test("the console writes nothing: POST to it is 405 with the secret", async () => {
    expect((await send(service, "POST", "/console", { body: {} })).status).toBe(405);
  });

  test("the console is not in the API document", async () => {
    const doc = (await (await send(service, "GET", "/swagger/json", { secret: null })).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((path) => path.startsWith("/console"))).toEqual([]);
  });
});
