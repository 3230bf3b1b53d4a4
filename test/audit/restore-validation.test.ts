/**
 * What restore takes in, beyond an intact chain: stored text holding U+2028/U+2029 (which readline split on),
 * a byte order mark, CRLF, invalid UTF-8 and over-long lines; every column of every event, so that nothing it
 * accepts is unreadable by the service afterwards; and a restore killed midway leaves no partial database.
 * The source is a database of TEST_BACKEND (make test runs this suite on SQLite and on PostgreSQL); the target
 * is always a new SQLite file.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { Database } from "bun:sqlite";
import { basename, join } from "node:path";
import type { EventRow } from "../../events/stored-event";
import { exportText } from "../../src/audit/export-events";
import { MAX_NDJSON_LINE_BYTES } from "../../src/audit/ndjson-lines";
import { restoreExport } from "../../src/audit/restore-export";
import { verifyStore } from "../../src/audit/verify-store";
import { chainProblems, createBody, createCommand, eventRows, META, Resources, SteppingClock, updateCommand } from "../store/store-fixture";
import { openTestBackend, sqliteOnly, storedEventRows } from "../support/test-backend";
import { sharedReadOnlySource } from "../support/shared-source";
import { EndlessPipe } from "../support/endless-pipe";
import { openTracked, rechain } from "./audit-fixture";
import { appendLongStream } from "./long-stream";

const resources = new Resources();
afterEach(() => resources.disposeAll());

const SEPARATORS = "行一\u2028行二\u2029段落";

/** A source whose last update stores a description with U+2028 and U+2029, exported as the CLI does. */
async function writeSource() {
  const service = await openTestBackend({ now: new SteppingClock().now });
  await service.writer.execute(createCommand(createBody("SEP-1", { amount: 100 })), META);
  await service.writer.execute(createCommand(createBody("SEP-2")), META);
  const update = await service.writer.execute(updateCommand({ opportunityCode: "SEP-1", description: SEPARATORS }), META);
  expect(update.ok).toBe(true);
  const text = await exportText(service.storage);
  return { service, text, rows: await storedEventRows(service) };
}

/** Every test only reads the source (the restores all go to new SQLite files): written once for the file. */
const sharedSource = sharedReadOnlySource(writeSource);

async function buildSource() {
  const { service, text, rows } = await sharedSource();
  return { service, text, rows: structuredClone(rows), dir: resources.tempDir() };
}

async function restoreText(dir: string, text: string | Uint8Array, name = "restored") {
  const file = join(dir, `${name}.ndjson`);
  writeFileSync(file, text);
  const target = join(dir, `${name}.db`);
  return { result: await restoreExport(file, target), target };
}

/** How many events a restore's staging file holds so far (0 while it is missing or still being set up). */
function insertedAt(staging: string): number {
  if (!existsSync(staging)) return 0;
  let db: Database | undefined;
  try {
    db = new Database(staging, { readonly: true });
    return db.query<{ n: number }, []>("SELECT count(*) AS n FROM events").get()!.n;
  } catch {
    return 0;
  } finally {
    db?.close();
  }
}

/** Nothing at the target, and no staging file left beside it. */
function expectNothingLeft(dir: string, target: string): void {
  for (const suffix of ["", "-wal", "-shm"]) expect(existsSync(`${target}${suffix}`)).toBe(false);
  expect(readdirSync(dir).filter((name) => name.includes(".restoring-"))).toEqual([]);
}

describe("line splitting", () => {
  test("an export holding U+2028 and U+2029 inside a description restores to the same head and rows", async () => {
    const source = await buildSource();
    expect(source.text).toContain("\u2028");
    expect(source.text.split("\n").filter((line) => line !== "")).toHaveLength(3);
    const { result, target } = await restoreText(source.dir, source.text);
    expect(result).toEqual({ ok: true, events: 3, opportunities: 2, head: await source.service.storage.head() });
    expect(eventRows(openTracked(resources, target))).toEqual(source.rows);
  });

  test("a byte order mark at the start and CRLF line ends are accepted", async () => {
    const source = await buildSource();
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(source.text.replaceAll("\n", "\r\n"))]);
    const { result } = await restoreText(source.dir, bom);
    expect(result).toEqual({ ok: true, events: 3, opportunities: 2, head: await source.service.storage.head() });
  });

  test("invalid UTF-8 is named with its line, never restored as U+FFFD", async () => {
    const source = await buildSource();
    const lines = source.text.split("\n");
    const bytes = new TextEncoder().encode(lines[1]!);
    const broken = Buffer.concat([Buffer.from(`${lines[0]}\n`), Buffer.from(bytes.slice(0, 20)), Buffer.from([0xc3, 0x28]), Buffer.from(bytes.slice(20)), Buffer.from(`\n${lines[2]}\n`)]);
    const { result, target } = await restoreText(source.dir, broken);
    expect(result).toEqual({ ok: false, reason: "line 2: not valid UTF-8" });
    expectNothingLeft(source.dir, target);
  });

  test("a line longer than the limit is refused by its number without being read whole", async () => {
    const source = await buildSource();
    const long = `{"data":"${"x".repeat(MAX_NDJSON_LINE_BYTES)}"}`;
    const { result, target } = await restoreText(source.dir, `${source.text}${long}\n`);
    expect(result).toEqual({ ok: false, reason: `line 4: longer than ${MAX_NDJSON_LINE_BYTES} bytes` });
    expectNothingLeft(source.dir, target);
  });
});

describe("every column is checked: what restore accepts, the service can read", () => {
  // Each alters the last event (SEP-1's update, position 3), then every hash is recomputed.
  const cases: [string, (row: EventRow) => EventRow, string][] = [
    ["metadata null", (row) => ({ ...row, metadata: "null" }), "metadata does not fit its schema at /: Expected object"],
    ["metadata without an actor", (row) => ({ ...row, metadata: '{"requestId":"r"}' }), "metadata does not fit its schema at /actor: Expected required property"],
    ["metadata with an empty actor", (row) => ({ ...row, metadata: '{"actor":"","requestId":"r"}' }), "metadata does not fit its schema at /actor: Expected string length greater or equal to 1"],
    ["metadata with a key the service never writes", (row) => ({ ...row, metadata: '{"actor":"oms","admin":true,"requestId":"r"}' }), "metadata does not fit its schema at /admin: Unexpected property"],
    ["metadata with a negative batch index", (row) => ({ ...row, metadata: '{"actor":"oms","batchIndex":-1,"requestId":"r"}' }), "metadata does not fit its schema at /batchIndex: Expected integer to be greater or equal to 0"],
    ["metadata with a batch index that is no integer", (row) => ({ ...row, metadata: '{"actor":"oms","batchIndex":"2","requestId":"r"}' }), "metadata does not fit its schema at /batchIndex: Expected integer"],
    ["recorded_at not a date", (row) => ({ ...row, recorded_at: "not-a-date" }), 'recorded_at "not-a-date" is not a UTC time like 2026-04-30T02:20:30.123Z'],
    ["recorded_at in another zone", (row) => ({ ...row, recorded_at: "2026-01-02T11:04:07.008+08:00" }), 'recorded_at "2026-01-02T11:04:07.008+08:00" is not a UTC time like 2026-04-30T02:20:30.123Z'],
    ["recorded_at on 31 February", (row) => ({ ...row, recorded_at: "2026-02-31T00:00:00.000Z" }), 'recorded_at "2026-02-31T00:00:00.000Z" is not a UTC time like 2026-04-30T02:20:30.123Z'],
    ["event_id not a ULID", (row) => ({ ...row, event_id: "event-3" }), 'event_id "event-3" is not a ULID'],
    ["schema_version 2", (row) => ({ ...row, schema_version: 2 }), "schema_version 2 of OpportunityUpdated is not 1, the only one this binary reads"],
    ["an unknown type", (row) => ({ ...row, type: "OpportunityDeleted" }), "unknown event type OpportunityDeleted"],
    ["data null", (row) => ({ ...row, data: "null" }), "data of OpportunityUpdated does not fit its schema at /: Expected object"],
  ];

  for (const [name, alter, reason] of cases) {
    test(`${name}: refused at its line and position, nothing left behind`, async () => {
      const source = await buildSource();
      const altered = rechain(source.rows.map((row) => (row.position === 3 ? alter(row) : row)));
      expect(chainProblems(altered)).toEqual([]);
      const { result, target } = await restoreText(source.dir, `${altered.map((row) => JSON.stringify(row)).join("\n")}\n`);
      expect(result).toEqual({ ok: false, reason: `line 3, position 3: ${reason}` });
      expectNothingLeft(source.dir, target);
    });
  }

  test("two opportunities with the same id: refused at the second creation", async () => {
    const source = await buildSource();
    const altered = rechain(source.rows.map((row) => (row.position === 2 ? { ...row, data: row.data.replace('"id":2', '"id":1') } : row)));
    expect(altered[1]!.data).toContain('"id":1');
    const { result } = await restoreText(source.dir, `${altered.map((row) => JSON.stringify(row)).join("\n")}\n`);
    expect(result).toEqual({ ok: false, reason: "line 2, position 2: opportunity id 1 of SEP-2 is already the id of SEP-1" });
  });
});

describe("the restored database", () => {
  test("is complete on its own: fully migrated, no -wal or -shm beside it, and it verifies", async () => {
    const source = await buildSource();
    const { result, target } = await restoreText(source.dir, source.text);
    expect(result.ok).toBe(true);
    expect(existsSync(`${target}-wal`)).toBe(false);
    expect(existsSync(`${target}-shm`)).toBe(false);
    const db = openTracked(resources, target);
    expect(db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version).toBeGreaterThanOrEqual(2);
    expect(verifyStore(db)).toMatchObject({ ok: true, events: 3, findings: [] });
  });

  // SQLite only: about the SQLite target file alone (its source is a SQLite file, whatever TEST_BACKEND is), so
  // a second run would repeat it unchanged.
  sqliteOnly.test("a restore killed midway leaves nothing at the target (it is built beside it and linked in at the end)", async () => {
    // More events than one of restore's insert batches (10,000), so that a first batch is committed in the
    // staging file while the rest is still to come. How the source is written is not what this test is about:
    // one long stream appended straight into the storage, 1,000 events a transaction.
    const EVENTS = 12_000;
    const { storage } = resources.bareStore();
    appendLongStream(storage, "KILL-1", EVENTS, { perWrite: 1_000, now: new SteppingClock().now });
    const dir = resources.tempDir();
    const file = join(dir, "big.ndjson");
    const text = await exportText(storage);
    writeFileSync(file, text);
    const target = join(dir, "restored.db");

    // The export comes through a pipe that is never closed (EndlessPipe): the restore is certainly still running
    // when it is killed.
    const pipe = new EndlessPipe(join(resources.tempDir(), "big.pipe"));
    resources.onDispose(() => pipe.close());
    const child = Bun.spawn([process.execPath, "src/main.ts", "restore", pipe.path, "--db", target], { cwd: join(import.meta.dir, "../.."), stdout: "ignore", stderr: "pipe" });
    resources.onDispose(() => child.kill("SIGKILL"));
    const ended = async () => new Error(`restore ended (exit ${child.exitCode}) before it could be killed midway: ${await new Response(child.stderr).text()}`);
    await pipe.feed(text, () => child.exitCode !== null, ended);
    // Killed once the staging file beside the target holds events: the restore has begun writing them.
    const staging = join(dir, `.restored.db.restoring-${child.pid}`);
    for (;;) {
      if (child.exitCode !== null) throw await ended();
      if (insertedAt(staging) > 0) break;
      await Bun.sleep(10);
    }
    child.kill("SIGKILL");
    await child.exited;
    expect(child.signalCode).toBe("SIGKILL");
    expect(existsSync(target)).toBe(false);
    // What it leaves is named for what it is; a later restore to the same target works.
    const left = readdirSync(dir).filter((name) => name !== "big.ndjson");
    expect(left).toContain(basename(staging));
    expect(left.every((name) => name.startsWith(".restored.db.restoring-"))).toBe(true);
    expect(await restoreExport(file, target)).toMatchObject({ ok: true, events: EVENTS, head: await storage.head() });
  }, 60_000);
});
