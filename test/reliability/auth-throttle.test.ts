import { beforeEach, describe, expect, test } from "bun:test";
import type { App } from "../../src/http/app";
import { AuthThrottle, type ThrottleOptions } from "../../src/http/auth-throttle";
import { TrustedProxies } from "../../src/http/trusted-proxies";
import type { TestBackend } from "../support/test-backend";
import { CREATE_PATH, expectFailure, expectSuccess, readPath, type Answer } from "../http/http-client";
import { AUDITOR_SECRET, OTHER_CLIENT_SECRET, TEST_SECRET } from "../support/test-service";
import { appFor, callApp, eventCount, useTestDatabase, type RequestOptions } from "./reliability-support";

// Secret guessing is slowed down per address: after `limit` failures within the window an address is refused
// with 429 for the lockout, even with the right secret, while every other address goes on as before.

const WRONG = "wrong-secret-0123456789abcdef";
const UNAUTHORIZED = "内部接口鉴权失败";
const tooMany = (seconds: number) => `鉴权失败次数过多，请 ${seconds} 秒后重试`;
const ATTACKER = "203.0.113.7";
const NEIGHBOUR = "198.51.100.20";

const temp = useTestDatabase();
let service: TestBackend;
let nowMs: number;
beforeEach(async () => {
  service = await temp.open();
  nowMs = Date.UTC(2026, 4, 1, 9, 0, 0, 0);
});

function appWithThrottle(options: Omit<ThrottleOptions, "now">): App {
  return appFor(service, { authThrottle: new AuthThrottle({ ...options, now: () => nowMs }) });
}

const read = (app: App, address: string | undefined, secret: string, options: RequestOptions = {}) =>
  callApp(app, "GET", readPath("OPP-ANY"), { ...options, address, secret });

/** The answer of an authenticated read of an unknown opportunity: it got past authentication. */
function expectAuthenticated(answer: Answer): void {
  expectFailure(answer, 200, "商机不存在");
}

function expectLockedOut(answer: Answer, seconds: number): void {
  expectFailure(answer, 429, tooMany(seconds));
  expect(answer.headers.get("retry-after")).toBe(String(seconds));
}

describe("auth throttle", () => {
  test("after `limit` failures an address gets 429 with Retry-After, even with the right secret, until the lockout passes", async () => {
    const app = appWithThrottle({ limit: 3, windowMs: 60_000, lockoutMs: 30_000 });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const answer = await read(app, ATTACKER, WRONG);
      expectFailure(answer, 401, UNAUTHORIZED);
      expect(answer.headers.get("retry-after")).toBeNull();
      nowMs += 1_000;
    }
    // Locked at the third failure (1 s ago): 29 s remain.
    expectLockedOut(await read(app, ATTACKER, TEST_SECRET), 29);
    expectLockedOut(await read(app, ATTACKER, OTHER_CLIENT_SECRET), 29);
    expectLockedOut(await read(app, ATTACKER, WRONG), 29);

    // A write with the right secret is refused before its body is looked at: nothing is written.
    const write = await callApp(app, "POST", CREATE_PATH, {
      address: ATTACKER,
      body: { opportunityCode: "OPP-LOCKED", opportunityName: "n", endCustomerName: "c" },
    });
    expectLockedOut(write, 29);
    expect(await eventCount(service.tables)).toBe(0);

    nowMs += 17_500;
    expectLockedOut(await read(app, ATTACKER, TEST_SECRET), 12);
    nowMs += 11_100;
    // 0.4 s left: rounded up, never "0 seconds".
    expectLockedOut(await read(app, ATTACKER, TEST_SECRET), 1);

    nowMs += 400;
    expectAuthenticated(await read(app, ATTACKER, TEST_SECRET));
    const created = await callApp(app, "POST", CREATE_PATH, {
      address: ATTACKER,
      body: { opportunityCode: "OPP-AFTER", opportunityName: "n", endCustomerName: "c" },
    });
    expect(expectSuccess(created)).toBe(1);
  });

  test("another address is not affected by a locked-out one", async () => {
    const app = appWithThrottle({ limit: 2, windowMs: 60_000, lockoutMs: 60_000 });
    for (let attempt = 0; attempt < 2; attempt += 1) expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    expectLockedOut(await read(app, ATTACKER, TEST_SECRET), 60);

    expectAuthenticated(await read(app, NEIGHBOUR, TEST_SECRET));
    // Its own failures count for itself only: one failure is a plain 401, and it may still come in.
    expectFailure(await read(app, NEIGHBOUR, WRONG), 401, UNAUTHORIZED);
    expectAuthenticated(await read(app, NEIGHBOUR, OTHER_CLIENT_SECRET));
    expectLockedOut(await read(app, ATTACKER, TEST_SECRET), 60);
  });

  test("a success does not reset the count: one valid secret (even an auditor's) is no licence to guess others", async () => {
    const app = appWithThrottle({ limit: 3, windowMs: 60_000, lockoutMs: 60_000 });
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    expectAuthenticated(await read(app, ATTACKER, AUDITOR_SECRET));
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    // Three failures within the window, a success between them: locked all the same.
    expectLockedOut(await read(app, ATTACKER, AUDITOR_SECRET), 60);
  });

  test("45 guesses interleaved with successes are not 45 free guesses", async () => {
    const app = appWithThrottle({ limit: 10, windowMs: 60_000, lockoutMs: 60_000 });
    const statuses: number[] = [];
    for (let guess = 0; guess < 45; guess += 1) {
      statuses.push((await read(app, ATTACKER, `${WRONG}-${guess}`)).status);
      await read(app, ATTACKER, TEST_SECRET);
    }
    expect(statuses.slice(0, 10)).toEqual(new Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(new Array(35).fill(429));
  });

  test("the window slides: failures on both sides of a window boundary add up", async () => {
    const app = appWithThrottle({ limit: 3, windowMs: 10_000, lockoutMs: 60_000 });
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    nowMs += 9_900;
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    nowMs += 200;
    // A fixed window would have started again here, at one failure.
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    nowMs += 100;
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    expectLockedOut(await read(app, ATTACKER, TEST_SECRET), 60);
  });

  test("failures older than the window are forgotten", async () => {
    const app = appWithThrottle({ limit: 3, windowMs: 10_000, lockoutMs: 60_000 });
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    nowMs += 20_001;
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    // Two failures within the last window: not locked.
    expectAuthenticated(await read(app, ATTACKER, TEST_SECRET));
  });

  test("limit 0 turns throttling off", async () => {
    const app = appWithThrottle({ limit: 0, windowMs: 60_000, lockoutMs: 60_000 });
    for (let attempt = 0; attempt < 25; attempt += 1) expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    expectAuthenticated(await read(app, ATTACKER, TEST_SECRET));
  });

  test("health checks answer a locked-out address; the API does not", async () => {
    const app = appWithThrottle({ limit: 1, windowMs: 60_000, lockoutMs: 5_000 });
    expectFailure(await read(app, ATTACKER, WRONG), 401, UNAUTHORIZED);
    expectLockedOut(await read(app, ATTACKER, TEST_SECRET), 5);
    const health = await callApp(app, "GET", "/healthz", { address: ATTACKER, secret: null });
    expect({ status: health.status, body: health.json }).toEqual({ status: 200, body: { code: "0", msg: "success", data: "ok" } });
  });

  test("the throttle on its own: lockedFor counts down to 0", () => {
    const throttle = new AuthThrottle({ limit: 2, windowMs: 60_000, lockoutMs: 20_000, now: () => nowMs });
    throttle.noteFailure(ATTACKER);
    expect(throttle.lockedFor(ATTACKER)).toBe(0);
    throttle.noteFailure(ATTACKER);
    expect(throttle.lockedFor(ATTACKER)).toBe(20_000);
    expect(throttle.lockedFor(NEIGHBOUR)).toBe(0);
    nowMs += 5_000;
    expect(throttle.lockedFor(ATTACKER)).toBe(15_000);
    nowMs += 15_000;
    expect(throttle.lockedFor(ATTACKER)).toBe(0);
  });
});

describe("behind a gateway (--trusted-proxies)", () => {
  const GATEWAY = "10.0.0.5";
  const CLIENT_A = "203.0.113.10";
  const CLIENT_B = "203.0.113.11";
  const behind = (app: App, client: string, secret: string, peer = GATEWAY) =>
    callApp(app, "GET", readPath("OPP-ANY"), { address: peer, secret, headers: { "x-forwarded-for": `${client}, ${peer}` } });

  function appBehindGateway(trusted: string): App {
    return appFor(service, {
      authThrottle: new AuthThrottle({ limit: 3, windowMs: 60_000, lockoutMs: 60_000, now: () => nowMs }),
      trustedProxies: TrustedProxies.parse(trusted),
    });
  }

  test("with the gateway trusted, one caller's bad secrets lock out that caller only", async () => {
    const app = appBehindGateway("10.0.0.0/8");
    for (let attempt = 0; attempt < 3; attempt += 1) expectFailure(await behind(app, CLIENT_A, WRONG), 401, UNAUTHORIZED);
    expectLockedOut(await behind(app, CLIENT_A, TEST_SECRET), 60);
    expectAuthenticated(await behind(app, CLIENT_B, TEST_SECRET));
  });

  test("without trusted proxies X-Forwarded-For is ignored: rotating it does not dodge the lockout", async () => {
    const app = appBehindGateway("");
    for (let attempt = 0; attempt < 3; attempt += 1) expectFailure(await behind(app, `198.51.100.${attempt}`, WRONG, ATTACKER), 401, UNAUTHORIZED);
    expectLockedOut(await behind(app, "198.51.100.99", TEST_SECRET, ATTACKER), 60);
  });

  test("from an untrusted peer the header is ignored even when proxies are configured", async () => {
    const app = appBehindGateway("10.0.0.0/8");
    for (let attempt = 0; attempt < 3; attempt += 1) expectFailure(await behind(app, `198.51.100.${attempt}`, WRONG, ATTACKER), 401, UNAUTHORIZED);
    expectLockedOut(await behind(app, "198.51.100.99", TEST_SECRET, ATTACKER), 60);
  });
});
