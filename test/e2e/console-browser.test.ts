/**
 * The console in a real browser (Debian's Chromium through playwright-core, see chromium.ts) against the
 * compiled binary with demo data: sign in (a wrong secret, then an auditor's), find the contract's opportunity,
 * its timeline with the contract example's update, an earlier time with the old amount, the chart, the recent
 * changes live, 校验 ending in 链完整; then a tampered copy of the database, whose 校验 names the altered
 * position, and the lockout's own message. Elements are found by their labels and roles, as a user finds
 * them. Every step's screenshot goes to one folder under the system's temp dir (printed; replaced on the next
 * run); UPDATE_SCREENSHOT=1 also writes the README's docs/console.png. At the end, the browser's request log
 * must hold no host but the service's own.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { E2E_TIMEOUT, run, startServer, stop, useBinary, type Server } from "../support/binary";
import { CONTRACT_EXAMPLE } from "../support/contract";
import { makeTempDir } from "../support/temp-dir";
import { launchChromium, type RunningChromium } from "./chromium";

useBinary();
const INTEGRATOR = "console-oms-secret-0123456789";
const AUDITOR = "console-auditor-secret-0123456789";
const CODE = CONTRACT_EXAMPLE.opportunityCode;
const REQUEST_ID = "console-e2e-contract-example";
const SHOTS = join(tmpdir(), "opportunity-console-screenshots");
const STEP_TIMEOUT = 90_000;

const dir = makeTempDir("console-browser-");
const secretsFile = join(dir.path, "secrets.json");
let server: Server;
let tampered: Server | undefined;
let chromium: RunningChromium;
let context: BrowserContext;
let page: Page;
/** Every URL the browser requested, from every page of the test. */
const requested: string[] = [];
const pageErrors: string[] = [];

async function api(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
  const init: RequestInit = { method, headers: { "X-Internal-Secret": INTEGRATOR, "Content-Type": "application/json", ...headers } };
  if (body !== undefined) init.body = JSON.stringify(body);
  return (await fetch(`${base}${path}`, init)).json();
}

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "zh-CN" });
  context.on("request", (request) => requested.push(request.url()));
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    // A refused secret is a 401 the browser reports as a failed load; anything else logged as an error is a fault.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) pageErrors.push(message.text());
  });
  return { context, page };
}

async function shot(target: Page, name: string, fullPage = false): Promise<string> {
  const path = join(SHOTS, `${name}.png`);
  await target.screenshot({ path, fullPage });
  console.log(`screenshot: ${path}`);
  return path;
}

/** Whether the control labelled so has the focus (evaluated in the page, where `document` is). */
const isFocused = (target: Page, label: string) =>
  target.getByLabel(label, { exact: true }).evaluate((element: unknown) => element === (globalThis as unknown as { document: { activeElement: unknown } }).document.activeElement);

async function signIn(target: Page, secret: string): Promise<void> {
  await target.getByLabel("访问密钥").fill(secret);
  await target.getByRole("button", { name: "登录", exact: true }).click();
}

beforeAll(async () => {
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  console.log(`screenshots of this run: ${SHOTS}`);
  writeFileSync(secretsFile, JSON.stringify([{ name: "oms", secret: INTEGRATOR }, { name: "audit-firm", secret: AUDITOR, role: "auditor" }]), { mode: 0o600 });
  server = await startServer(["--demo", "--db", join(dir.path, "demo.db"), "--secrets", secretsFile], dir.path);
  // The contract example's update, in a later second than the demo's creation (the timeline shows seconds).
  const created = (await api(server.baseUrl, "GET", `/api/opportunities/${CODE}`)).data.createdAt as string;
  await Bun.sleep(Math.max(0, Date.parse(created) + 1_100 - Date.now()));
  const updated = await api(server.baseUrl, "PUT", "/api/opportunities/integration/update", CONTRACT_EXAMPLE, { "X-Request-Id": REQUEST_ID });
  expect(updated).toMatchObject({ code: "0" });
  chromium = await launchChromium();
  ({ context, page } = await newPage());
}, E2E_TIMEOUT);

afterAll(async () => {
  await context?.close().catch(() => {});
  await chromium?.close();
  for (const running of [server, tampered]) if (running) await stop(running);
  dir.cleanup();
});

describe("the console in Chromium", () => {
  test(
    "sign in: a wrong secret shows 内部接口鉴权失败; an auditor's opens the console; the secret is in sessionStorage only",
    async () => {
      await page.goto(`${server.baseUrl}/console`);
      expect(await isFocused(page, "访问密钥")).toBe(true);
      await shot(page, "01-sign-in");
      await signIn(page, "wrong-secret-0123456789abcdef");
      await page.getByText("内部接口鉴权失败").waitFor();
      await shot(page, "02-wrong-secret");
      await signIn(page, AUDITOR);
      await page.getByRole("button", { name: "退出", exact: true }).waitFor();
      expect(await page.evaluate("Object.entries(sessionStorage)")).toEqual([["opportunity-console.secret", AUDITOR]]);
      expect(await page.evaluate("[document.cookie, localStorage.length, location.href]")).toEqual(["", 0, `${server.baseUrl}/console`]);
      expect(await page.getByLabel("访问密钥").isVisible()).toBe(false);
      await shot(page, "03-signed-in");
    },
    STEP_TIMEOUT,
  );

  test(
    "find the contract's opportunity: every field by its Chinese name; the timeline holds the contract example's update",
    async () => {
      await page.getByLabel("商机编号").fill(CODE);
      await page.getByRole("button", { name: "查询", exact: true }).click();
      const amountRow = page.getByRole("row", { name: /商机金额/ });
      await amountRow.filter({ hasText: "2,800,000" }).waitFor();
      expect(await page.getByRole("row", { name: /项目阶段/ }).textContent()).toContain("赢单");
      expect(await page.getByRole("row", { name: /最终客户/ }).textContent()).toContain("某市城市投资发展集团有限公司");
      const timeline = page.getByRole("list", { name: "变更历史" });
      const update = timeline.getByRole("listitem").filter({ hasText: `请求 ID ${REQUEST_ID}` });
      const text = (await update.textContent()) ?? "";
      for (const part of ["更新 · 版本 2", "调用方 oms", "商机金额: 2,500,000 → 2,800,000", "项目阶段: 商务谈判 → 赢单", "把握度: B → A", "预计结单日期: 2026-05-31 → 2026-04-30"]) {
        expect({ part, found: text.includes(part) }).toEqual({ part, found: true });
      }
      // Newest first: the update above the creation.
      expect(await timeline.locator(":scope > li").evaluateAll((items) => items.map((item) => item.getAttribute("data-version")))).toEqual(["2", "1"]);
      await shot(page, "04-opportunity-and-timeline", true);
    },
    STEP_TIMEOUT,
  );

  test(
    "an earlier time, typed as the timeline shows it, with Enter: the old amount, marked as differing from today",
    async () => {
      const created = page.getByRole("list", { name: "变更历史" }).getByRole("listitem").filter({ hasText: "创建 · 版本 1" });
      const when = (await created.locator("strong").first().textContent())!;
      expect(when).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      await page.getByLabel("查看时间点").fill(when);
      await page.getByLabel("查看时间点").press("Enter");
      await page.getByText(`${when} 时的记录（版本 1）`).waitFor();
      const amountRow = page.getByRole("row", { name: /商机金额/ });
      const text = (await amountRow.textContent()) ?? "";
      expect(text).toContain("2,500,000");
      expect(text).toContain("与当前不同（当前：2,800,000）");
      expect(await amountRow.getAttribute("class")).toBe("differs");
      expect(await page.getByRole("row", { name: /商机名称/ }).getAttribute("class")).toBeNull();
      await shot(page, "05-earlier-time");
    },
    STEP_TIMEOUT,
  );

  test(
    "the chart: an inline SVG whose point of the update opens its timeline entry",
    async () => {
      const point = page.getByRole("link", { name: /^版本 2，.*金额 2,800,000，阶段 赢单$/ });
      await point.locator("circle").click();
      expect(await page.evaluate("document.activeElement?.getAttribute('data-version')")).toBe("2");
      expect(await page.locator("#chart svg").count()).toBe(1);
      await shot(page, "06-chart-to-timeline");
    },
    STEP_TIMEOUT,
  );

  test(
    "recent changes: newest first, each linking to its opportunity, and a new write appears without a reload",
    async () => {
      const recent = page.getByRole("list", { name: "最近变更" });
      expect(await recent.getByRole("listitem").first().textContent()).toContain(`${CODE} 版本 2：更新`);
      const before = await page.locator("#head").textContent();
      expect(await api(server.baseUrl, "PUT", "/api/opportunities/integration/update", { opportunityCode: "OPP-20260402-002", amount: 1_300_000 })).toMatchObject({ code: "0" });
      await recent.getByRole("listitem").first().filter({ hasText: "OPP-20260402-002 版本 2：更新 商机金额" }).waitFor();
      expect(await page.locator("#head").textContent()).not.toBe(before);
      expect(await page.getByText(/^实时更新中|^每 \d+ 秒刷新/).textContent()).toBe("实时更新中（变更流）");
      await recent.getByRole("link", { name: "OPP-20260402-002" }).first().click();
      await page.getByRole("row", { name: /商机金额/ }).filter({ hasText: "1,300,000" }).waitFor();
      await shot(page, "07-recent-changes-live");
    },
    STEP_TIMEOUT,
  );

  test(
    "校验: a progress bar, then 链完整 with the head shown above, which the copy button copies",
    async () => {
      await page.getByLabel("商机编号").fill(CODE);
      await page.getByLabel("商机编号").press("Enter");
      await page.getByRole("row", { name: /商机金额/ }).filter({ hasText: "2,800,000" }).waitFor();
      await page.getByRole("button", { name: "校验", exact: true }).click();
      const progress = page.getByRole("progressbar", { name: "校验进度" });
      await progress.waitFor();
      await page.getByText(/^链完整/).waitFor();
      expect(await progress.getAttribute("aria-valuenow")).toBe("100");
      const head = (await page.locator("#head").textContent())!;
      expect(head).toMatch(/^5:[0-9a-f]{64}$/);
      expect(await page.getByText(/^链完整/).textContent()).toBe(`链完整：5 个事件、3 个商机，链头 ${head}`);
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.baseUrl });
      await page.getByRole("button", { name: "复制链头" }).click();
      await page.getByText("已复制链头").waitFor();
      expect(await page.evaluate("navigator.clipboard.readText()")).toBe(head);
      const picture = await shot(page, "08-chain-intact", true);
      if (process.env.UPDATE_SCREENSHOT === "1") {
        copyFileSync(picture, resolve(import.meta.dir, "../../docs/console.png"));
        console.log("docs/console.png updated");
      }
    },
    STEP_TIMEOUT,
  );

  test(
    "a phone-width window: no sideways scrolling of the page, the controls still there",
    async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
      for (const label of ["商机编号", "查看时间点", "预期链头"]) expect(await page.getByLabel(label, { exact: true }).isVisible()).toBe(true);
      await shot(page, "09-phone-width", true);
      await page.setViewportSize({ width: 1280, height: 800 });
    },
    STEP_TIMEOUT,
  );

  test(
    "by keyboard alone: 退出, sign in with Enter, find with Enter, a version with Enter",
    async () => {
      await page.getByRole("button", { name: "退出", exact: true }).focus();
      await page.keyboard.press("Enter");
      expect(await page.evaluate("sessionStorage.length")).toBe(0);
      expect(await isFocused(page, "访问密钥")).toBe(true);
      await page.keyboard.type(AUDITOR);
      await page.keyboard.press("Enter");
      await page.getByRole("button", { name: "退出", exact: true }).waitFor();
      expect(await isFocused(page, "商机编号")).toBe(true);
      await page.keyboard.type(CODE);
      await page.keyboard.press("Enter");
      await page.getByRole("row", { name: /商机金额/ }).filter({ hasText: "2,800,000" }).waitFor();
      await page.getByLabel("查看版本", { exact: true }).focus();
      await page.keyboard.type("1");
      await page.keyboard.press("Enter");
      await page.getByText("版本 1 时的记录（版本 1）").waitFor();
      await shot(page, "10-keyboard");
    },
    STEP_TIMEOUT,
  );

  test(
    "a tampered copy of the database: 校验 names the altered event's position; the lockout has its own message",
    async () => {
      const copy = join(dir.path, "tampered.db");
      expect((await run(["backup", copy, "--db", join(dir.path, "demo.db")], dir.path)).code).toBe(0);
      alterContractUpdate(copy);
      tampered = await startServer(["--db", copy, "--secrets", secretsFile, "--auth-failure-limit", "2"], dir.path);
      const other = await newPage();
      await other.page.goto(`${tampered.baseUrl}/console`);
      await signIn(other.page, AUDITOR);
      await other.page.getByRole("button", { name: "校验", exact: true }).click();
      const failure = other.page.getByText(/^校验失败/);
      await failure.waitFor();
      expect(await failure.textContent()).toStartWith("校验失败：位置 4：hash does not match the event's stored columns (the event was altered)");
      expect(await other.page.locator("#verify-lines").textContent()).toContain("FAILED at position 4: hash does not match");
      await shot(other.page, "11-tampered-copy", true);

      await other.page.getByRole("button", { name: "退出", exact: true }).click();
      // This server locks an address out at its second failure (--auth-failure-limit 2).
      await signIn(other.page, "wrong-secret-1-0123456789abcdef");
      await other.page.getByText("内部接口鉴权失败").waitFor();
      await signIn(other.page, "wrong-secret-2-0123456789abcdef");
      const lockedOut = other.page.getByText(/^鉴权失败次数过多，请 \d+ 秒后重试$/);
      await lockedOut.waitFor();
      // Locked out means locked out: the right secret gets the same message, and nothing opens.
      await signIn(other.page, AUDITOR);
      await other.page.getByText("正在验证…").waitFor({ state: "detached" }).catch(() => {});
      await lockedOut.waitFor();
      expect(await other.page.getByRole("button", { name: "退出", exact: true }).isVisible()).toBe(false);
      await shot(other.page, "12-locked-out");
      await other.context.close();
    },
    STEP_TIMEOUT,
  );

  test("the browser asked no host but the service's own, and the page logged no error", () => {
    const origins = new Set([server, tampered].filter(Boolean).map((running) => new URL(running!.baseUrl).origin));
    expect(requested.length).toBeGreaterThan(20);
    expect(requested.some((url) => url.endsWith("/console/assets/console.js"))).toBe(true);
    expect(requested.filter((url) => !origins.has(new URL(url).origin))).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

/** The contract example's update (position 4) made to say 2,900,000, its append-only trigger put back as it was. */
function alterContractUpdate(path: string): void {
  const db = new Database(path);
  try {
    const trigger = db.query<{ sql: string }, []>("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'events_no_update'").get()!.sql;
    db.run("DROP TRIGGER events_no_update");
    db.run(`UPDATE events SET data = replace(data, '"amount":2800000', '"amount":2900000') WHERE position = 4`);
    db.run(trigger);
    expect(db.query<{ data: string }, []>("SELECT data FROM events WHERE position = 4").get()!.data).toContain('"amount":2900000');
  } finally {
    db.close();
  }
}
