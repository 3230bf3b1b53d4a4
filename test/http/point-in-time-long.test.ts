import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeLongStream } from "../audit/long-stream";
import { type BackendService, createTestApp, startBackendService, TEST_SECRET } from "../support/test-service";
import { answerOf, call, expectSuccess, readPath, readRecord } from "./http-client";

// ?asOf= and ?version= on an opportunity with a long history: the same records as before, and the fold no
// longer holds the HTTP thread for the whole history (it once took ~100 ms for 6,500 events, during which
// every other request, /healthz too, waited).
let service: BackendService;
const CODE = "OPP-PIT-LONG";
const COUNT = 1_500;
let clock = Date.UTC(2026, 3, 1, 2, 0, 0);

const readAt = (query: Record<string, string>) => call(service, "GET", `${readPath(CODE)}?${new URLSearchParams(query)}`);

describe("a long history read at a point", () => {
  beforeAll(async () => {
    service = await startBackendService({ now: () => new Date(clock) });
    await writeLongStream(service.writer, CODE, COUNT, {
      perWrite: 100,
      beforeWrite: () => {
        clock += 60_000;
      },
    });
  });
  afterAll(() => service.dispose());

  test("the last version, and a time after the last write, are the current record", async () => {
    const current = await readRecord(service, CODE);
    expect(current.version).toBe(COUNT);
    expect(expectSuccess(await readAt({ version: String(COUNT) }))).toEqual(current);
    expect(expectSuccess(await readAt({ asOf: new Date(clock + 1).toISOString() }))).toEqual(current);
  });

  test("a time inside the history is the last version written by then", async () => {
    // Transaction k (0-based) wrote versions 100k+1 … 100k+100 at START + (k+1) minutes.
    const record = expectSuccess(await readAt({ asOf: new Date(Date.UTC(2026, 3, 1, 2, 7, 30)).toISOString() })) as Record<string, unknown>;
    expect(record.version).toBe(700);
    expect(record.amount).toBe(100_000 + 699);
    expect(expectSuccess(await readAt({ version: "700" }))).toEqual(record);
  });

  test("work queued on the event loop while a point-in-time read is in flight runs before it answers", async () => {
    // A new app: no states of this stream remembered yet, so the whole history is folded.
    const app = createTestApp(service);
    const request = new Request(`http://localhost${readPath(CODE)}?version=${COUNT}`, { headers: { "x-internal-secret": TEST_SECRET } });
    let otherRan = false;
    const answer = app.handle(request).then((response) => ({ response, otherRan }));
    setImmediate(() => {
      otherRan = true;
    });
    const { response, otherRan: ranFirst } = await answer;
    expect((expectSuccess(await answerOf(response)) as Record<string, unknown>).version).toBe(COUNT);
    expect(ranFirst).toBe(true);
  });
});
