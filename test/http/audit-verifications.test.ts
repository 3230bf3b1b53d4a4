/**
 * The verification jobs over HTTP (POST /api/audit/verifications, GET /api/audit/verifications/{id}): the CLI's
 * `verify` run by the service in the background. The result is the CLI's, line for line, on the same database;
 * progress moves; one job at a time per instance, a second refused in the envelope; the auditor role may start
 * one (the only POST it may call); writes go on meanwhile. Backend-neutral, but for the altered event row: a
 * SQLite file's trigger is dropped to alter it (on PostgreSQL the same is covered by the CLI's own suites).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { formatHead } from "../../events/verify-chain";
import { VerificationJobs, type VerificationJobView } from "../../src/audit/verification-jobs";
import { DEFAULT_VERIFICATION_PACE, type VerificationPace } from "../../src/audit/verification-pace";
import { verificationRunnerFor } from "../../src/audit/verification-runner";
import { verify } from "../../src/cli/verify";
import { quote } from "../../src/field-rules";
import { writeLongStream } from "../audit/long-stream";
import { captureCli } from "../support/cli-output";
import { createBackendDatabase, sqliteOnly, type BackendDatabase, type TestBackend } from "../support/test-backend";
import { AUDITOR_SECRET, createTestApp, type BackendService } from "../support/test-service";
import { call, createOpportunity, expectFailure, expectSuccess, update, type Answer, type SendOptions } from "./http-client";

const PATH = "/api/audit/verifications";
/** Long enough that a job is still running while the test looks at it, short enough for a test. */
const LONG_EVENTS = 20_000;
/**
 * The jobs over the long history run at full speed and normal priority: what these tests look at (progress,
 * one job at a time, writes meanwhile) does not depend on the pace, and at the service's pace (four times as
 * long, nice 19) the jobs starve behind the other test files make test runs beside this one.
 * test/unit/verification-pace.test.ts holds the service's own pace.
 */
const FULL_SPEED: VerificationPace = { lowPriority: false, workSliceMs: 20, pausePerWork: 0 };
/**
 * The jobs of the tests about what a job finds and which requests start one: the service's slices and pauses,
 * at normal priority. At nice 19 a job waits for the processor behind everything else make test runs (measured
 * on two cores kept busy: 10-25 s for a job over three events that takes 0.2 s otherwise), and what these tests
 * look at does not depend on the priority.
 */
const NORMAL_PRIORITY: VerificationPace = { ...DEFAULT_VERIFICATION_PACE, lowPriority: false };

/** The service on `database`; its jobs at `pace`, by default the service's own (createApp's). */
async function serviceOn(database: BackendDatabase, pace?: VerificationPace): Promise<BackendService> {
  const backend: TestBackend = await database.open();
  const app = createTestApp(backend, pace ? { verifications: new VerificationJobs(verificationRunnerFor(backend.storage, pace)) } : {});
  return { ...backend, app, request: () => Promise.reject(new Error("use call()")) };
}

/** The CLI's output for the same database, split into lines. */
async function cliLines(database: BackendDatabase, ...args: string[]): Promise<string[]> {
  const { stdout } = await captureCli(() => verify(["--db", database.location, ...args], {}));
  return stdout.trimEnd().split("\n");
}

const start = async (service: BackendService, options: SendOptions = {}) => call(service, "POST", PATH, options);
const poll = async (service: BackendService, id: string, options: SendOptions = {}) => expectSuccess(await call(service, "GET", `${PATH}/${id}`, options)) as VerificationJobView;

/** Polls until the job ends; every state seen on the way, the last one finished. */
async function followJob(service: BackendService, id: string): Promise<VerificationJobView[]> {
  const seen: VerificationJobView[] = [];
  const deadline = Date.now() + 60_000;
  for (;;) {
    const job = await poll(service, id);
    seen.push(job);
    if (job.state !== "running") return seen;
    if (Date.now() > deadline) throw new Error(`job ${id} still running: ${JSON.stringify(job)}`);
    await Bun.sleep(2);
  }
}

async function runJob(service: BackendService, body?: unknown): Promise<VerificationJobView> {
  const started = expectSuccess(await start(service, body === undefined ? {} : { body })) as VerificationJobView;
  return (await followJob(service, started.id)).at(-1)!;
}

/**
 * The auditor's job runs at the service's own pace (DEFAULT_VERIFICATION_PACE, as createApp wires it: nice 19,
 * working a quarter of the time), as every job of the service does. At nice 19 it waits for the processor behind
 * everything else make test runs, for far longer than it works; so it is started before every other test of the
 * file and followed after them, its wait overlapping theirs instead of adding to them.
 */
const auditor: { database?: BackendDatabase; service?: BackendService; started?: Answer } = {};
beforeAll(async () => {
  auditor.database = await createBackendDatabase();
  auditor.service = await serviceOn(auditor.database);
  await createOpportunity(auditor.service, { opportunityCode: "OPP-VERIFY-A" });
  auditor.started = await start(auditor.service, { secret: AUDITOR_SECRET, body: {} });
});
afterAll(async () => {
  await auditor.service?.app.verifications.idle();
  await auditor.database?.drop();
});

describe("a store with a long history", () => {
  let database: BackendDatabase;
  let service: BackendService;
  beforeAll(async () => {
    database = await createBackendDatabase();
    service = await serviceOn(database, FULL_SPEED);
    await writeLongStream(service.writer, "OPP-VERIFY-LONG", LONG_EVENTS, { perWrite: 2_000 });
  }, 60_000);
  afterAll(async () => {
    await service?.app.verifications.idle();
    await database?.drop();
  });

  test("the job answers at once, running; its progress moves up to the snapshot's last position; the result is the CLI's", async () => {
    const started = expectSuccess(await start(service)) as VerificationJobView;
    expect(started).toMatchObject({ state: "running", expectHead: null, checked: 0, result: null, error: null, finishedAt: null });
    expect(started.id).toMatch(/^[0-9a-f-]{36}$/);
    const seen = await followJob(service, started.id);
    const done = seen.at(-1)!;
    expect(done).toMatchObject({ state: "done", checked: LONG_EVENTS, total: LONG_EVENTS, error: null });
    // Seen on the way: a position walked but not yet the last, and never a step back.
    const checked = seen.map((job) => job.checked);
    expect(checked.some((position) => position > 0 && position < LONG_EVENTS)).toBe(true);
    expect(checked).toEqual([...checked].sort((a, b) => a - b));
    expect(seen.filter((job) => job.total !== null).every((job) => job.total === LONG_EVENTS)).toBe(true);
    const head = formatHead(await service.storage.head());
    expect(done.result).toEqual({ ok: true, events: LONG_EVENTS, opportunities: 1, head, firstFailure: null, lines: await cliLines(database) });
  }, 60_000);

  test("a second job while one runs is refused in the envelope, naming the running one; once it is done, another starts", async () => {
    const first = expectSuccess(await start(service)) as VerificationJobView;
    const second = await start(service, { secret: AUDITOR_SECRET });
    expectFailure(second, 200);
    expect(String(second.json.msg)).toStartWith(`已有一个校验任务正在进行（任务 ${first.id}，已校验到位置 `);
    expect(String(second.json.msg)).toEndWith("同一实例同时只运行一个校验任务，请等它完成后再发起");
    await followJob(service, first.id);
    const third = expectSuccess(await start(service)) as VerificationJobView;
    expect(third.id).not.toBe(first.id);
    expect((await followJob(service, third.id)).at(-1)!.result!.ok).toBe(true);
  }, 60_000);

  test("writes go on while a job runs, and the job checks the snapshot it started on", async () => {
    const before = (await service.storage.head())!.position;
    const started = expectSuccess(await start(service)) as VerificationJobView;
    const written = await update(service, { opportunityCode: "OPP-VERIFY-LONG", amount: 424_242 });
    expectSuccess(written);
    const done = (await followJob(service, started.id)).at(-1)!;
    expect((await service.storage.head())!.position).toBe(before + 1);
    expect(done.total).toBeGreaterThanOrEqual(before);
    expect(done.result).toMatchObject({ ok: true, events: done.total });
  }, 60_000);
});

describe("what a job finds", () => {
  let database: BackendDatabase;
  let service: BackendService;
  beforeAll(async () => {
    database = await createBackendDatabase();
    service = await serviceOn(database, NORMAL_PRIORITY);
    await createOpportunity(service, { opportunityCode: "OPP-VERIFY-F", amount: 100 });
    expectSuccess(await update(service, { opportunityCode: "OPP-VERIFY-F", amount: 200 }));
    expectSuccess(await update(service, { opportunityCode: "OPP-VERIFY-F", amount: 300 }));
  });
  afterAll(async () => {
    await service?.app.verifications.idle();
    await database?.drop();
  });

  test("the expected head it is given: the head itself is intact; one beyond the end names the position and why, as the CLI does", async () => {
    const head = formatHead(await service.storage.head());
    const intact = await runJob(service, { expectHead: head });
    expect(intact).toMatchObject({ expectHead: head, result: { ok: true, head } });
    const beyond = `9:${"a".repeat(64)}`;
    const cut = await runJob(service, { expectHead: ` ${beyond} ` });
    expect(cut.expectHead).toBe(beyond);
    expect(cut.result!.ok).toBe(false);
    expect(cut.result!.firstFailure).toEqual({
      position: 4,
      at: "position 4",
      reason: "the chain ends at position 3, before the expected head 9: events were removed from the end",
      line: "FAILED at position 4: the chain ends at position 3, before the expected head 9: events were removed from the end",
    });
    expect(cut.result!.lines).toEqual(await cliLines(database, "--expect-head", beyond));
  });

  test("an altered projection row: the table is named (no position), as the CLI prints it", async () => {
    await service.tables.run("UPDATE opportunities SET amount = 1 WHERE code = ?", ["OPP-VERIFY-F"]);
    try {
      const done = await runJob(service);
      expect(done.result!.ok).toBe(false);
      expect(done.result!.firstFailure).toEqual({
        position: null,
        at: "table opportunities",
        reason: "projection row OPP-VERIFY-F differs from the events in: amount",
        line: "FAILED at table opportunities: projection row OPP-VERIFY-F differs from the events in: amount",
      });
      expect(done.result!.lines).toEqual(await cliLines(database));
    } finally {
      await service.tables.run("UPDATE opportunities SET amount = 300 WHERE code = ?", ["OPP-VERIFY-F"]);
    }
  });

  sqliteOnly.test("an altered event: its position and why, the same lines as the CLI", async () => {
    await service.tables.run("DROP TRIGGER events_no_update");
    await service.tables.run(`UPDATE events SET data = replace(data, '"amount":200', '"amount":250') WHERE position = 2`);
    const done = await runJob(service);
    expect(done.result!.ok).toBe(false);
    expect(done.result!.firstFailure).toMatchObject({ position: null, at: "schema" });
    const altered = done.result!.lines.find((line) => line.startsWith("FAILED at position"));
    expect(altered).toBe("FAILED at position 2: hash does not match the event's stored columns (the event was altered)");
    expect(done.result!.lines).toEqual(await cliLines(database));
  });
});

describe("bad requests are refused in the envelope, and start nothing", () => {
  let database: BackendDatabase;
  let service: BackendService;
  beforeAll(async () => {
    database = await createBackendDatabase();
    service = await serviceOn(database, NORMAL_PRIORITY);
  });
  afterAll(async () => {
    await service?.app.verifications.idle();
    await database?.drop();
  });

  test.each([
    ["an expected head without its hash", { body: { expectHead: "1523" } }, 'expectHead 必须是 位置:哈希（一个整数、冒号、64 位小写十六进制，即 verify 打印的 head），收到: "1523"'],
    ["an expected head in upper case", { body: { expectHead: `1:${"A".repeat(64)}` } }, `expectHead 必须是 位置:哈希（一个整数、冒号、64 位小写十六进制，即 verify 打印的 head），收到: ${quote(`1:${"A".repeat(64)}`)}`],
    ["an expected head that is a number", { body: { expectHead: 12 } }, "expectHead 必须是 位置:哈希（一个整数、冒号、64 位小写十六进制，即 verify 打印的 head），收到: 12"],
    ["another field", { body: { expectHead: null, head: "1:x" } }, "不支持的字段: head，支持: expectHead"],
    ["a body that is not an object", { body: ["1:x"] }, '请求体必须是 JSON 对象，如 {"expectHead":"1523:5f0c…"}，或不传请求体'],
    ["a query parameter", { body: {}, path: `${PATH}?expectHead=1` }, "不支持的查询参数: expectHead（该接口不接受查询参数）"],
  ] as const)("%s", async (_name, options, msg) => {
    const answer = await call(service, "POST", "path" in options ? options.path : PATH, options);
    expectFailure(answer, 200, msg);
  });

  test("a body that is not JSON: 400; not declared JSON: 415; over the limit: 413", async () => {
    expectFailure(await call(service, "POST", PATH, { rawBody: "{" }), 400, "请求体不是合法的 JSON");
    expectFailure(await call(service, "POST", PATH, { rawBody: "{}", contentType: "text/plain" }), 415, "Content-Type 必须是 application/json");
    expectFailure(await call(service, "POST", PATH, { body: { expectHead: "1".repeat(70_000) } }), 413);
  });

  test("an unknown job id: 校验任务不存在, quoting it", async () => {
    expectFailure(await call(service, "GET", `${PATH}/no-such-job`), 200, '校验任务不存在: "no-such-job"（任务只保存在受理它的实例的内存中，保留最近 20 个，重启后清空）');
    expectFailure(await call(service, "GET", `${PATH}/%zz`), 400);
  });

  test("none of those started a job: the next one starts at once; no body, an empty body and a null head are the same", async () => {
    for (const options of [{}, { rawBody: "" }, { body: { expectHead: null } }] as SendOptions[]) {
      const started = expectSuccess(await call(service, "POST", PATH, options)) as VerificationJobView;
      expect(started.expectHead).toBeNull();
      await followJob(service, started.id);
    }
  });
});

describe("the auditor role", () => {
  let service: BackendService;
  beforeAll(() => {
    service = auditor.service!;
  });

  test("may start a job (a POST declared open to auditors) and follow it", async () => {
    const started = expectSuccess(auditor.started!) as VerificationJobView;
    const done = await poll(service, started.id, { secret: AUDITOR_SECRET });
    expect(done.id).toBe(started.id);
    expect((await followJob(service, started.id)).at(-1)!.result!.ok).toBe(true);
  });

  test("is still refused every other method on that path (403), and every write route", async () => {
    const forbidden = "密钥 audit-firm 为只读审计（auditor）角色，不能调用写接口";
    for (const method of ["PUT", "DELETE", "PATCH"]) expectFailure(await call(service, method, PATH, { secret: AUDITOR_SECRET }), 403, forbidden);
    expectFailure(await update(service, { opportunityCode: "OPP-VERIFY-A", amount: 5 }, { secret: AUDITOR_SECRET }), 403, forbidden);
    // An integrator gets the 405 the path really answers.
    expectFailure(await call(service, "PUT", PATH), 405);
  });

  test("without a secret: 401, and no job is started", async () => {
    expectFailure(await start(service, { secret: null }), 401, "内部接口鉴权失败");
    expectFailure(await call(service, "GET", `${PATH}/x`, { secret: null }), 401, "内部接口鉴权失败");
  });
});

