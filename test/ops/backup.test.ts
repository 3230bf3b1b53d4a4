import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../src/storage/sqlite/database";
import type { EventRow } from "../../events/stored-event";
import { verifyStore } from "../../src/audit/verify-store";
import { backupDatabase } from "../../src/backup";
import { SCHEMA_VERSION, schemaVersionOf } from "../../src/storage/sqlite/schema";
import { openServiceStore, type ServiceStore } from "../../src/service-store";
import { chainProblems, eventRows, opportunityRows } from "../store/store-fixture";
import { makeTempDir } from "../support/temp-dir";
import { startWriterProcess } from "../support/writer-process";

// backupDatabase(db, target): a consistent, verified copy of a live database, never over an existing file.

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function tempDir(): string {
  const dir = makeTempDir("ops-backup-");
  cleanups.push(dir.cleanup);
  return dir.path;
}

/** The service's store on a new file, closed after the test. */
function service(path = join(tempDir(), "opportunities.db")): ServiceStore & { path: string } {
  const opened = openServiceStore(path);
  let closed = false;
  cleanups.push(() => {
    if (!closed) opened.close();
    closed = true;
  });
  return { ...opened, path };
}

/** A read-only look at a copy, closed after the test. */
function openCopy(path: string): Database {
  const db = new Database(path, { readonly: true });
  cleanups.push(() => db.close());
  return db;
}

const META = { actor: "oms", requestId: "req-backup" };

async function create(store: ServiceStore, code: string, fields: Record<string, unknown> = {}): Promise<void> {
  const result = await store.writer.execute({ type: "CreateOpportunity", opportunityCode: code, endCustomerName: "某市大数据局", fields: { opportunityName: `商机 ${code}`, ...fields } }, META);
  expect(result.ok).toBe(true);
}

async function update(store: ServiceStore, code: string, fields: Record<string, unknown>): Promise<void> {
  const result = await store.writer.execute({ type: "UpdateOpportunity", opportunityCode: code, fields }, META);
  expect(result).toMatchObject({ ok: true, appended: 1 });
}

/** Some history: three opportunities, two of them updated. */
async function someHistory(store: ServiceStore): Promise<void> {
  await create(store, "OPP-BK-1", { amount: 100 });
  await create(store, "OPP-BK-2", { stage: "solution" });
  await create(store, "OPP-BK-3");
  await update(store, "OPP-BK-1", { amount: 200, confidencePct: "B" });
  await update(store, "OPP-BK-2", { stage: "won", status: "won" });
}

describe("a copy that verifies", () => {
  test("same head, same events, same projection, same schema version", async () => {
    const source = service();
    await someHistory(source);
    const target = join(tempDir(), "backup.db");
    const result = backupDatabase(source.db, target);
    if (!result.ok) throw new Error(`backup failed: ${result.reason}`);
    expect(result.report).toMatchObject({ ok: true, events: 5, opportunities: 3, head: source.store.head(), problem: null });
    expect(result.bytes).toBe(statSync(target).size);
    expect(result.bytes).toBeGreaterThan(0);

    const copy = openCopy(target);
    expect(eventRows(copy)).toEqual(eventRows(source.db));
    expect(opportunityRows(copy)).toEqual(opportunityRows(source.db));
    expect(chainProblems(eventRows(copy))).toEqual([]);
    expect(schemaVersionOf(copy)).toBe(SCHEMA_VERSION);
    expect(verifyStore(copy)).toMatchObject({ ok: true, events: 5, head: source.store.head() });
  });

  test("the copy is complete on its own: the .db file alone, moved elsewhere, holds everything", async () => {
    const source = service();
    await someHistory(source);
    const target = join(tempDir(), "backup.db");
    expect(backupDatabase(source.db, target).ok).toBe(true);
    const elsewhere = join(tempDir(), "moved");
    mkdirSync(elsewhere);
    copyFileSync(target, join(elsewhere, "restored.db"));
    const restored = openCopy(join(elsewhere, "restored.db"));
    expect(eventRows(restored)).toEqual(eventRows(source.db));
    expect(verifyStore(restored).ok).toBe(true);
  });

  test("the copy is closed when backupDatabase returns: no -wal or -shm beside it", async () => {
    const source = service();
    await someHistory(source);
    const target = join(tempDir(), "backup.db");
    expect(backupDatabase(source.db, target).ok).toBe(true);
    expect({ wal: existsSync(`${target}-wal`), shm: existsSync(`${target}-shm`) }).toEqual({ wal: false, shm: false });
  });

  test("a restored copy serves as a database: the service opens it and continues the chain", async () => {
    const source = service();
    await someHistory(source);
    const target = join(tempDir(), "backup.db");
    expect(backupDatabase(source.db, target).ok).toBe(true);
    const restored = service(target);
    await update(restored, "OPP-BK-3", { description: "after restore" });
    const rows = eventRows(restored.db);
    expect(rows).toHaveLength(6);
    expect(rows.slice(0, 5)).toEqual(eventRows(source.db));
    expect(chainProblems(rows)).toEqual([]);
  });

  test("an empty database backs up to an empty, valid copy", () => {
    const source = service();
    const target = join(tempDir(), "empty-backup.db");
    const result = backupDatabase(source.db, target);
    expect(result).toMatchObject({ ok: true, report: { ok: true, events: 0, opportunities: 0, head: null } });
    expect(eventRows(openCopy(target))).toEqual([]);
  });
});

describe("never over an existing file", () => {
  test.each([
    ["a file with content", "precious data"],
    ["an empty file", ""],
  ])("refuses %s and leaves it as it was", async (_name, content) => {
    const source = service();
    await someHistory(source);
    const target = join(tempDir(), "existing.db");
    writeFileSync(target, content);
    const result = backupDatabase(source.db, target);
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.reason).toContain("already exists");
    expect(result.ok ? "" : result.reason).toContain(target);
    expect(readFileSync(target, "utf8")).toBe(content);
  });

  test("refuses a second backup to the same path, keeping the first", async () => {
    const source = service();
    await someHistory(source);
    const target = join(tempDir(), "backup.db");
    expect(backupDatabase(source.db, target).ok).toBe(true);
    const first = readFileSync(target);
    await create(source, "OPP-BK-4");
    expect(backupDatabase(source.db, target).ok).toBe(false);
    expect(readFileSync(target).equals(first)).toBe(true);
    expect(eventRows(openCopy(target))).toHaveLength(5);
  });
});

describe("while another connection keeps writing", () => {
  test("interleaved: each copy holds exactly what was committed before it", async () => {
    const writer = service();
    // The backup is taken through a second connection to the same file, as `backup` does beside a running server.
    const reader = openDatabase(writer.path);
    cleanups.push(() => reader.close());
    const dir = tempDir();

    await create(writer, "OPP-IL-1");
    await create(writer, "OPP-IL-2");
    const first = backupDatabase(reader, join(dir, "first.db"));
    await update(writer, "OPP-IL-1", { stage: "won" });
    await create(writer, "OPP-IL-3");
    const second = backupDatabase(reader, join(dir, "second.db"));
    await update(writer, "OPP-IL-3", { amount: 5 });
    // And the other way round: the writing connection backs up while the other one writes.
    const third = backupDatabase(writer.db, join(dir, "third.db"));

    const all = eventRows(writer.db);
    expect(all).toHaveLength(5);
    const copies = [first, second, third].map((result, index) => {
      if (!result.ok) throw new Error(`backup ${index + 1} failed: ${result.reason}`);
      return eventRows(openCopy(join(dir, ["first.db", "second.db", "third.db"][index]!)));
    });
    expect(copies.map((rows) => rows.length)).toEqual([2, 4, 5]);
    for (const rows of copies) expect(rows).toEqual(all.slice(0, rows.length));
    expect([first, second, third].map((result) => (result.ok ? result.report.head : null))).toEqual([
      { position: 2, hash: all[1]!.hash },
      { position: 4, hash: all[3]!.hash },
      { position: 5, hash: all[4]!.hash },
    ]);
  });

  test("in the middle of another connection's write transaction: the copy holds only what was committed", async () => {
    const writer = service();
    await someHistory(writer);
    const reader = openDatabase(writer.path);
    cleanups.push(() => reader.close());
    const target = join(tempDir(), "mid-transaction.db");
    const committed = eventRows(writer.db);

    const command = { type: "UpdateOpportunity" as const, opportunityCode: "OPP-BK-3", fields: { description: "uncommitted while copying" } };
    const apply = writer.opportunities.applyChange.bind(writer.opportunities);
    let copied: ReturnType<typeof backupDatabase> | undefined;
    writer.opportunities.applyChange = (change) => {
      apply(change);
      // The event and its projection are written but not committed while the copy is taken.
      copied = backupDatabase(reader, target);
    };
    expect(await writer.writer.execute(command, META)).toMatchObject({ ok: true, appended: 1 });
    writer.opportunities.applyChange = apply;
    const result = copied!;

    if (!result.ok) throw new Error(`backup failed: ${result.reason}`);
    expect(result.report).toMatchObject({ ok: true, events: committed.length, opportunities: 3 });
    const copy = openCopy(target);
    expect(eventRows(copy)).toEqual(committed);
    expect(opportunityRows(copy)).not.toEqual(opportunityRows(writer.db));
    // The projection row of the copy is the one from before the open transaction.
    const description = (db: Database) => db.query<{ description: string | null }, []>("SELECT description FROM opportunities WHERE code = 'OPP-BK-3'").get()!.description;
    expect(description(copy)).toBeNull();
    expect(description(writer.db)).toBe("uncommitted while copying");
    expect(eventRows(writer.db)).toHaveLength(committed.length + 1);
  });

  test("another process writing continuously: every copy verifies and is a prefix of the final history", async () => {
    const main = service();
    await create(main, "OPP-BUSY-SEED");
    const count = 150;
    const busy = await startWriterProcess(main.path, { prefix: "BUSY", count, sharedCode: "OPP-BUSY-SEED" });
    cleanups.push(busy.kill);
    busy.go();

    const dir = tempDir();
    const copies: { path: string; events: number }[] = [];
    let exited = false;
    const finished = busy.finished().then((outcome) => {
      exited = true;
      return outcome;
    });
    while (!exited) {
      const path = join(dir, `copy-${copies.length}.db`);
      const result = backupDatabase(main.db, path);
      if (!result.ok) throw new Error(`backup ${copies.length} failed: ${result.reason}`);
      copies.push({ path, events: result.report.events });
      await Bun.sleep(5);
    }
    expect(await finished).toEqual({ exitCode: 0, stdout: "ready\ndone\n", stderr: "" });

    const final: EventRow[] = eventRows(main.db);
    // The seed, then a create and an update per step.
    expect(final).toHaveLength(1 + 2 * count);
    expect(copies.length).toBeGreaterThanOrEqual(2);
    // At least one copy was taken while the other process was half-way.
    expect(copies.some((copy) => copy.events > 1 && copy.events < final.length)).toBe(true);
    const counts = copies.map((copy) => copy.events);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    for (const copy of copies) {
      const db = openCopy(copy.path);
      const rows = eventRows(db);
      expect(rows).toHaveLength(copy.events);
      expect(rows).toEqual(final.slice(0, rows.length));
      // The projection matches exactly the events in the copy: a consistent prefix, not a torn one.
      const creates = rows.filter((row) => row.type === "OpportunityCreated").length;
      expect(db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM opportunities").get()!.n).toBe(creates);
      expect(verifyStore(db).ok).toBe(true);
    }
  }, 60_000);
});

describe("a copy that does not verify", () => {
  test("is removed, and the reason names the position", async () => {
    const source = service();
    await someHistory(source);
    // Someone bypasses the triggers and edits an event in place.
    source.db.run("DROP TRIGGER events_no_update");
    source.db.run("UPDATE events SET data = replace(data, '200', '300') WHERE position = 4");
    const target = join(tempDir(), "tampered-backup.db");
    const result = backupDatabase(source.db, target);
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.reason).toContain("position 4");
    for (const suffix of ["", "-wal", "-shm"]) expect(existsSync(`${target}${suffix}`)).toBe(false);
  });
});
