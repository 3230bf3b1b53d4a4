/**
 * Larger stores: verify walks thousands of events and reports the right counts and head; the export pages
 * (5,000 rows a chunk) join into one gap-free file that restores to the same head.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EventMetadata } from "../../events/opportunity-events";
import type { OpportunityCommand } from "../../src/commands";
import { exportChunks, exportText } from "../../src/audit/export-events";
import { restoreExport } from "../../src/audit/restore-export";
import { verifyStore } from "../../src/audit/verify-store";
import type { EventRow } from "../../events/stored-event";
import type { GroupCommit } from "../../src/write/group-commit";
import { auditorHash, createBody, createCommand, GENESIS, Resources, SteppingClock, updateCommand } from "../store/store-fixture";
import { backendsPerTest, createBackendDatabase, sqliteOnly, storedEventRows, verifyBackend, type BackendDatabase, type TestBackend } from "../support/test-backend";
import { openTracked, tamper } from "./audit-fixture";

// The stores are databases of TEST_BACKEND (make test runs this suite on SQLite and on PostgreSQL), but for
// the one test that alters a row of a SQLite file.
const resources = new Resources();
afterEach(() => resources.disposeAll());
const backends = backendsPerTest();

/**
 * `opportunities` creates, then updates round-robin until `events` events exist; every update sets a new
 * amount, so each one appends exactly one event. Written in batches of 500 commands per transaction.
 */
async function fill(service: { writer: Pick<GroupCommit, "executeMany"> }, opportunities: number, events: number): Promise<void> {
  const items: { command: OpportunityCommand; metadata: EventMetadata }[] = [];
  for (let i = 0; i < opportunities; i++) items.push({ command: createCommand(createBody(`BIG-${i}`, { amount: 1 })), metadata: { actor: "import", requestId: `c${i}` } });
  for (let n = opportunities; n < events; n++) {
    items.push({ command: updateCommand({ opportunityCode: `BIG-${n % opportunities}`, amount: n + 1 }), metadata: { actor: "oms", requestId: `u${n}` } });
  }
  for (let start = 0; start < items.length; start += 500) {
    const results = await service.writer.executeMany(items.slice(start, start + 500));
    expect(results.every((r) => r.ok && r.appended === 1)).toBe(true);
  }
}

/** The head an independent auditor computes from the rows alone. */
function auditorHead(rows: readonly EventRow[]): { position: number; hash: string } {
  let prev = GENESIS;
  for (const row of rows) {
    expect(row.prev_hash).toBe(prev);
    expect(auditorHash(row)).toBe(row.hash);
    prev = row.hash;
  }
  return { position: rows.length, hash: prev };
}

describe("a store of 2,000 events", () => {
  let database: BackendDatabase;
  let service: TestBackend;
  let rows: EventRow[];
  beforeAll(async () => {
    database = await createBackendDatabase();
    service = await database.open({ now: new SteppingClock().now });
    await fill(service, 150, 2_000);
    rows = await storedEventRows(service);
  });
  afterAll(() => database.drop());

  test("verifies with the right counts and head", async () => {
    expect(rows).toHaveLength(2_000);
    const head = auditorHead(rows);

    const report = await verifyBackend(service);
    expect(report).toEqual({ ok: true, events: 2_000, opportunities: 150, head, problem: null, findings: [] });
    expect(await service.storage.head()).toEqual(head);
    expect((await verifyBackend(service, { expectHead: head })).ok).toBe(true);
    expect((await verifyBackend(service, { expectHead: { position: 1_000, hash: rows[999]!.hash } })).ok).toBe(true);
  });

  // SQLite only: the event is altered in the rows of the SQLite file, on a plain connection of its own.
  sqliteOnly.test("catches one altered event deep inside", async () => {
    const path = service.storage.location;
    await service.dispose();
    tamper(path, (db) => {
      const result = db.run(`UPDATE events SET data = replace(data, '"amount":1500', '"amount":1499') WHERE position = 1500`);
      expect(result.changes).toBe(1);
    });
    const tampered = verifyStore(openTracked(resources, path));
    expect(tampered.ok).toBe(false);
    expect(tampered.problem!.position).toBe(1_500);
    expect(tampered.problem!.reason).toContain("hash does not match");
    expect(tampered.events).toBe(1_499);
    expect(tampered.head).toEqual({ position: 1_499, hash: rows[1_498]!.hash });
  });
});

describe("a store of 5,050 events", () => {
  test("exports in 5,000-row pages that join gap-free, and restores to the same head", async () => {
    const service = await backends.open({ now: new SteppingClock().now });
    await fill(service, 50, 5_050);
    const head = (await service.storage.head())!;
    expect(head.position).toBe(5_050);

    const chunks: string[] = [];
    for await (const chunk of exportChunks(service.storage)) chunks.push(chunk);
    expect(chunks).toHaveLength(2);
    const text = chunks.join("");
    const positions = text
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => (JSON.parse(line) as { position: number }).position);
    expect(positions).toEqual(Array.from({ length: 5_050 }, (_, i) => i + 1));

    // A window across the page boundary.
    const window = await exportText(service.storage, { after: 4_990, to: 5_010 });
    expect(window.split("\n").filter((line) => line !== "").map((line) => (JSON.parse(line) as { position: number }).position)).toEqual(
      Array.from({ length: 20 }, (_, i) => 4_991 + i),
    );

    const dir = resources.tempDir();
    const file = join(dir, "events.ndjson");
    writeFileSync(file, text);
    const target = join(dir, "restored.db");
    expect(await restoreExport(file, target)).toEqual({ ok: true, events: 5_050, opportunities: 50, head });
    const restored = openTracked(resources, target);
    expect(verifyStore(restored, { expectHead: head })).toEqual({ ok: true, events: 5_050, opportunities: 50, head, problem: null, findings: [] });
  });
});
