/**
 * Export (NDJSON, one stored row per line) and restore into a new database: the round trip keeps every row
 * and the head hash; a tampered export is refused naming the line and position, and leaves nothing behind.
 * The source is a database of TEST_BACKEND (make test runs this suite on SQLite and on PostgreSQL): an export
 * from either backend restores into a new SQLite file with the same head.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readHead } from "../../src/storage/sqlite/event-reads";
import type { Opportunity } from "../../projections/opportunity-state";
import type { EventRow } from "../../events/stored-event";
import { exportChunks, exportText as exportAll } from "../../src/audit/export-events";
import { restoreExport } from "../../src/audit/restore-export";
import { verifyStore } from "../../src/audit/verify-store";
import type { OpportunityReads } from "../../src/storage/port";
import { auditorHash, chainProblems, createBody, createCommand, eventRows, GENESIS, META, opportunityRows, recanonicalize, Resources, SteppingClock, updateCommand } from "../store/store-fixture";
import { backendsPerTest, openTestBackend, sqliteOnly, storedEventRows, verifyBackend, type BackendOptions, type TestBackend } from "../support/test-backend";
import { sharedReadOnlySource } from "../support/shared-source";
import { openTracked, rechain } from "./audit-fixture";
import { runRandomHistory } from "./random-history";

const resources = new Resources();
afterEach(() => resources.disposeAll());
const backends = backendsPerTest();

interface Source {
  service: TestBackend;
  rows: EventRow[];
  dir: string;
}

/** The projection of every stream of `rows`, as the service reads it. */
async function opportunitiesOf(reads: OpportunityReads, rows: readonly EventRow[]): Promise<(Opportunity | null)[]> {
  const codes = [...new Set(rows.map((row) => row.stream_id))].sort();
  return Promise.all(codes.map((code) => reads.findOpportunity(code)));
}

/** Writes the source's history (bigints, Chinese, escapes, cleared fields, a seeded random history) and reads its rows. */
async function writeSource(open: (options: BackendOptions) => Promise<TestBackend>): Promise<{ service: TestBackend; rows: EventRow[] }> {
  const clock = new SteppingClock();
  const service = await open({ now: clock.now });
  await service.writer.execute(createCommand(createBody("EXP-1", { amount: 100, salesExpansionId: 9223372036854775807n, description: "换行\n和 \"引号\"" })), META);
  await service.writer.execute(updateCommand({ opportunityCode: "EXP-1", amount: 250, stage: "bidding" }), META);
  await runRandomHistory(service, clock, 5, 40);
  const rows = await storedEventRows(service);
  expect(rows.length).toBeGreaterThan(30);
  return { service, rows };
}

/** The source most tests read (every build gave the same history): written once for the file. */
const sharedSource = sharedReadOnlySource(() => writeSource((options) => openTestBackend(options)));

/** The shared source, read-only: a test that writes into its source takes `ownSource()`. */
async function buildSource(): Promise<Source> {
  const { service, rows } = await sharedSource();
  return { service, rows: structuredClone(rows), dir: resources.tempDir() };
}

/** A source database of the test's own, with the same history, removed after the test. */
async function ownSource(): Promise<Source> {
  const { service, rows } = await writeSource((options) => backends.open(options));
  return { service, rows, dir: resources.tempDir() };
}

const exportText = (source: Source, options: { after?: number; to?: number } = {}) => exportAll(source.service.storage, options);
const linesOf = (text: string) => text.split("\n").filter((line) => line !== "");
const positionsOf = (text: string) => linesOf(text).map((line) => (JSON.parse(line) as EventRow).position);
const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** Nothing at all at the target: no database, no WAL, no shared-memory file. */
function expectNothingAt(target: string): void {
  for (const suffix of ["", "-wal", "-shm"]) expect({ file: `${target}${suffix}`, exists: existsSync(`${target}${suffix}`) }).toEqual({ file: `${target}${suffix}`, exists: false });
}

describe("export", () => {
  test("one line per stored row, in position order, each line the row's canonical JSON", async () => {
    const source = await buildSource();
    const text = await exportText(source);
    expect(text.endsWith("\n")).toBe(true);
    const lines = linesOf(text);
    expect(lines).toHaveLength(source.rows.length);
    lines.forEach((line, index) => {
      expect(JSON.parse(line)).toEqual(source.rows[index]!);
      expect(line).toBe(recanonicalize(line));
    });
    // Anyone holding the file can check the chain without our code.
    expect(chainProblems(lines.map((line) => JSON.parse(line) as EventRow))).toEqual([]);
  });

  test("after/to select exactly those positions", async () => {
    const source = await buildSource();
    const n = source.rows.length;
    expect(positionsOf(await exportText(source, { after: 5, to: 12 }))).toEqual(range(6, 12));
    expect(positionsOf(await exportText(source, { after: 12 }))).toEqual(range(13, n));
    expect(positionsOf(await exportText(source, { to: 3 }))).toEqual([1, 2, 3]);
    expect(positionsOf(await exportText(source, { after: n - 1 }))).toEqual([n]);
    expect(await exportText(source, { after: n })).toBe("");
    expect(await exportText(source, { after: 10, to: 10 })).toBe("");
    // A `to` beyond the head stops at the head.
    expect(positionsOf(await exportText(source, { after: n - 2, to: n + 50 }))).toEqual([n - 1, n]);
  });

  test("the default end is the head when the export starts: later writes are not included", async () => {
    const source = await ownSource();
    const n = source.rows.length;
    const chunks = exportChunks(source.service.storage);
    const first = await chunks.next();
    await source.service.writer.execute(updateCommand({ opportunityCode: "EXP-1", amount: 999 }), META);
    let rest = "";
    for await (const chunk of chunks) rest += chunk;
    expect(positionsOf(`${first.value ?? ""}${rest}`)).toEqual(range(1, n));
  });
});

describe("export → restore round trip", () => {
  test("same head, same event rows, same projection; the restored database verifies and takes new writes", async () => {
    const source = await buildSource();
    const file = join(source.dir, "events.ndjson");
    writeFileSync(file, await exportText(source));
    const target = join(source.dir, "restored.db");

    const sourceHead = await source.service.storage.head();
    const sourceReport = await verifyBackend(source.service);
    expect(sourceReport.ok).toBe(true);
    expect(sourceReport.head).toEqual(sourceHead);

    const result = await restoreExport(file, target);
    expect(result).toEqual({ ok: true, events: source.rows.length, opportunities: sourceReport.opportunities, head: sourceHead });

    const restored = openTracked(resources, target);
    expect(readHead(restored)).toEqual(sourceHead);
    expect(eventRows(restored)).toEqual(await storedEventRows(source.service));
    // Same schema on both sides when the source is a SQLite file too: the projection rows match column for column.
    if (source.service.kind === "sqlite") expect(opportunityRows(restored)).toEqual(await source.service.tables.select("SELECT * FROM opportunities ORDER BY id"));
    expect(verifyStore(restored)).toEqual(sourceReport);
    // The restored events table is append-only too.
    expect(() => restored.run("DELETE FROM events WHERE position = 1")).toThrow("append-only");
    restored.close();

    // The service continues on the restored database, chaining onto the same head.
    const continued = resources.service({ path: target, now: new SteppingClock(Date.UTC(2027, 0, 1)).now });
    // On either backend: every opportunity reads back the same from the restored projection.
    expect(await continued.storage.countOpportunities()).toBe(await source.service.storage.countOpportunities());
    expect(await opportunitiesOf(continued.storage, source.rows)).toEqual(await opportunitiesOf(source.service.storage, source.rows));
    const write = await continued.writer.execute(updateCommand({ opportunityCode: "EXP-1", amount: 12345 }), META);
    expect(write.appended).toBe(1);
    const next = eventRows(continued.db).at(-1)!;
    expect(next.position).toBe(sourceHead!.position + 1);
    expect(next.prev_hash).toBe(sourceHead!.hash);
    expect(verifyStore(continued.db).ok).toBe(true);
  });

  test("a prefix export (to = k) restores to the head at k", async () => {
    const source = await buildSource();
    const file = join(source.dir, "prefix.ndjson");
    writeFileSync(file, await exportText(source, { to: 10 }));
    const target = join(source.dir, "prefix.db");
    const result = await restoreExport(file, target);
    expect(result.ok).toBe(true);
    expect(result.ok && result.head).toEqual({ position: 10, hash: source.rows[9]!.hash });
  });

  test("blank lines are skipped, and still counted when a later line is named", async () => {
    const source = await buildSource();
    const lines = linesOf(await exportText(source));
    const good = join(source.dir, "blank.ndjson");
    writeFileSync(good, `\n${lines.slice(0, 3).join("\n")}\n\n${lines.slice(3).join("\n")}\n\n`);
    const restoredOk = await restoreExport(good, join(source.dir, "blank.db"));
    expect(restoredOk.ok && restoredOk.head).toEqual((await source.service.storage.head())!);

    const bad = join(source.dir, "blank-bad.ndjson");
    // Lines: 1 blank, 2-4 events 1-3, 5 blank, 6 garbage.
    writeFileSync(bad, `\n${lines.slice(0, 3).join("\n")}\n\n{garbage\n${lines.slice(3).join("\n")}\n`);
    const target = join(source.dir, "blank-bad.db");
    expect(await restoreExport(bad, target)).toEqual({ ok: false, reason: "line 6: not valid JSON" });
    expectNothingAt(target);
  });

  test("an export missing its last line restores, but to a different head: compare heads", async () => {
    const source = await buildSource();
    const lines = linesOf(await exportText(source));
    const file = join(source.dir, "short.ndjson");
    writeFileSync(file, `${lines.slice(0, -1).join("\n")}\n`);
    const result = await restoreExport(file, join(source.dir, "short.db"));
    const n = source.rows.length;
    expect(result).toEqual({ ok: true, events: n - 1, opportunities: expect.any(Number), head: { position: n - 1, hash: source.rows[n - 2]!.hash } });
    expect(result.ok && result.head).not.toEqual(await source.service.storage.head());
  });
});

describe("restore refuses", () => {
  test("an existing target, leaving it untouched", async () => {
    const source = await buildSource();
    const file = join(source.dir, "events.ndjson");
    writeFileSync(file, await exportText(source));
    const target = join(source.dir, "existing.db");
    writeFileSync(target, "precious bytes");
    const result = await restoreExport(file, target);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain("already exists");
    expect(readFileSync(target, "utf8")).toBe("precious bytes");
    expect(existsSync(`${target}-wal`)).toBe(false);
  });

  // SQLite only: the target is a file, which a PostgreSQL source is not.
  sqliteOnly.test("the source database itself as target, leaving it intact", async () => {
    const source = await ownSource();
    const file = join(source.dir, "events.ndjson");
    writeFileSync(file, await exportText(source));
    const result = await restoreExport(file, source.service.storage.location);
    expect(result.ok).toBe(false);
    expect(await verifyBackend(source.service)).toMatchObject({ ok: true, events: source.rows.length });
  });

  test("an empty export", async () => {
    const source = await buildSource();
    const file = join(source.dir, "empty.ndjson");
    writeFileSync(file, "\n");
    const target = join(source.dir, "empty.db");
    expect(await restoreExport(file, target)).toEqual({ ok: false, reason: `${file} holds no events` });
    expectNothingAt(target);
  });

  /** Each case alters the lines of a good export; the reason must be exactly the expected one. */
  const cases: { name: string; alter: (lines: string[], rows: EventRow[]) => string[]; reason: string | RegExp }[] = [
    {
      name: "one event's data text changed",
      alter: (lines) => lines.map((line, i) => (i === 3 ? line.replace(/"data":"\{/, '"data":"{\\"tampered\\":1,') : line)),
      reason: "line 4, position 4: hash does not match the event's stored columns (the event was altered)",
    },
    {
      name: "a line removed",
      alter: (lines) => lines.filter((_, i) => i !== 3),
      reason: "line 4, position 4: position 4 is missing: the next event has position 5",
    },
    {
      name: "two lines swapped",
      alter: (lines) => lines.map((line, i) => (i === 3 ? lines[4]! : i === 4 ? lines[3]! : line)),
      reason: "line 4, position 4: position 4 is missing: the next event has position 5",
    },
    {
      name: "a line repeated",
      alter: (lines) => [...lines.slice(0, 3), lines[2]!, ...lines.slice(3)],
      reason: "line 4, position 3: position 3 is out of order after position 3",
    },
    {
      name: "a non-JSON line",
      alter: (lines) => lines.map((line, i) => (i === 2 ? line.slice(0, -1) : line)),
      reason: "line 3: not valid JSON",
    },
    {
      name: "an extra column",
      alter: (lines) => lines.map((line, i) => (i === 1 ? line.replace(/^\{/, '{"extra":1,') : line)),
      reason: "line 2: unknown column(s): extra",
    },
    {
      name: "a missing column",
      alter: (lines) => lines.map((line, i) => (i === 1 ? JSON.stringify({ ...JSON.parse(line), hash: undefined }) : line)),
      reason: "line 2: column hash must be a string",
    },
    {
      name: "a position written as a string",
      alter: (lines) => lines.map((line, i) => (i === 1 ? JSON.stringify({ ...JSON.parse(line), position: "2" }) : line)),
      reason: "line 2: column position must be a positive integer",
    },
    {
      name: "a line that is JSON but not an object",
      alter: (lines) => ["[1,2,3]", ...lines.slice(1)],
      reason: "line 1: not a JSON object",
    },
    {
      name: "a first prev_hash that is not 64 zeros",
      alter: (lines) => lines.map((line, i) => (i === 0 ? JSON.stringify({ ...JSON.parse(line), prev_hash: "f".repeat(64) }) : line)),
      reason: "line 1, position 1: prev_hash of the first event is not 64 zeros",
    },
    {
      name: "a version gap, every hash recomputed",
      alter: (_lines, rows) => {
        // Event 2 is EXP-1's version 2 (the fixed update of buildSource).
        const altered = rows.map((row) => (row.position === 2 ? { ...row, version: 3 } : row));
        return rechain(altered).map((row) => JSON.stringify(row));
      },
      reason: "line 2, position 2: version 3 of EXP-1 should be 2",
    },
    {
      name: "an update's previous value altered, every hash recomputed",
      alter: (_lines, rows) => {
        const altered = rows.map((row) => (row.position === 2 ? { ...row, data: row.data.replace('"previous":{"amount":100', '"previous":{"amount":101') } : row));
        expect(altered[1]!.data).toContain('"amount":101');
        return rechain(altered).map((row) => JSON.stringify(row));
      },
      reason: /^line 2, position 2: previous amount of EXP-1 is 101, but the folded value was 100$/,
    },
  ];

  for (const { name, alter, reason } of cases) {
    test(`a tampered export: ${name} — named, and nothing left at the target`, async () => {
      const source = await buildSource();
      const lines = linesOf(await exportText(source));
      const file = join(source.dir, "tampered.ndjson");
      const altered = alter(lines, source.rows);
      expect(altered.join("\n")).not.toBe(lines.join("\n"));
      writeFileSync(file, `${altered.join("\n")}\n`);
      const target = join(source.dir, "restored.db");

      const result = await restoreExport(file, target);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        if (typeof reason === "string") expect(result.reason).toBe(reason);
        else expect(result.reason).toMatch(reason);
      }
      expectNothingAt(target);
    });
  }

  // Exports whose every hash holds but whose facts do not fit together: refused with the position, not thrown.
  test.each<[string, string, number, (row: EventRow) => EventRow]>([
    // Event 3 is re-labelled as EXP-1's version 2, which event 2 already is.
    ["a (stream, version) used twice", "duplicate", 3, (row) => (row.position === 3 ? { ...row, stream_id: "EXP-1", version: 2 } : row)],
    ["an event's data not JSON", "bad-data", 2, (row) => (row.position === 2 ? { ...row, data: "not json" } : row)],
  ])("a tampered export: %s, every hash recomputed — refused, not thrown", async (_name, fileName, position, alter) => {
    const source = await buildSource();
    const altered = rechain(source.rows.map(alter));
    expect(chainProblems(altered)).toEqual([]);
    const file = join(source.dir, `${fileName}.ndjson`);
    writeFileSync(file, `${altered.map((row) => JSON.stringify(row)).join("\n")}\n`);
    const target = join(source.dir, `${fileName}.db`);

    let result: Awaited<ReturnType<typeof restoreExport>> | undefined;
    let thrown: unknown;
    try {
      result = await restoreExport(file, target);
    } catch (error) {
      thrown = error;
    }
    // Whatever happens, nothing is left behind.
    expectNothingAt(target);
    expect({ thrown: thrown === undefined ? null : String(thrown) }).toEqual({ thrown: null });
    expect(result?.ok).toBe(false);
    expect(result && !result.ok && result.reason).toContain(`position ${position}`);
  });
});

test("the auditor's hash recipe agrees with the rows used above", async () => {
  const source = await buildSource();
  expect(source.rows[0]!.prev_hash).toBe(GENESIS);
  for (const row of source.rows) expect(auditorHash(row)).toBe(row.hash);
});
