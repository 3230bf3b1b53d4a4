/**
 * Tampering with a real database file behind the service's back (raw SQL on a separate connection, the
 * append-only triggers dropped first), and what `verifyStore` says about it: the first bad position and why.
 * Projection drift is repaired by `rebuildOpportunities`. SQLite only (not in the Makefile's
 * BACKEND_NEUTRAL_SUITES): every case rewrites a SQLite file's rows, triggers or tables behind the service.
 */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import type { Head } from "../../events/verify-chain";
import type { EventRow } from "../../events/stored-event";
import { rebuildOpportunities } from "../../src/storage/sqlite/projection-rebuild";
import { OpportunitiesTable } from "../../src/storage/sqlite/opportunity-rows";
import type { VerifyReport } from "../../src/audit/verify-store";
import { auditorHash, chainProblems, createBody, createCommand, eventRows, META, Resources, SteppingClock, updateCommand } from "../store/store-fixture";
import { driftFields, openTracked, verifyBothWays, rawRows, rechain, rehashFrom, replaceAllEvents, tamper } from "./audit-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

interface BaseStore {
  path: string;
  /** The rows as the service wrote them, before any tampering. */
  rows: EventRow[];
  /** The head an auditor kept after the last honest write. */
  head: Head;
}

/**
 * Seven events through the real write path, then the service is closed (WAL folded into the file):
 *   1 OPP-A created (amount 100, stage lead)     2 OPP-B created (description 初始)
 *   3 OPP-A amount 200, stage solution           4 OPP-B description first
 *   5 OPP-A amount 300                           6 OPP-B status won, description cleared
 *   7 OPP-A confidencePct B
 */
async function buildBaseStore(): Promise<BaseStore> {
  const service = resources.service({ now: new SteppingClock().now });
  const writer = service.writer;
  await writer.execute(createCommand(createBody("OPP-A", { amount: 100, stage: "lead" })), META);
  await writer.execute(createCommand(createBody("OPP-B", { description: "初始" })), META);
  await writer.execute(updateCommand({ opportunityCode: "OPP-A", amount: 200, stage: "solution" }), META);
  await writer.execute(updateCommand({ opportunityCode: "OPP-B", description: "first" }), META);
  await writer.execute(updateCommand({ opportunityCode: "OPP-A", amount: 300 }), META);
  await writer.execute(updateCommand({ opportunityCode: "OPP-B", status: "won", description: "" }), META);
  await writer.execute(updateCommand({ opportunityCode: "OPP-A", confidencePct: "b" }), META);
  const rows = eventRows(service.db);
  service.close();

  // The tampering below relies on these exact stored texts.
  expect(rows.map((r) => [r.position, r.stream_id, r.version])).toEqual([
    [1, "OPP-A", 1],
    [2, "OPP-B", 1],
    [3, "OPP-A", 2],
    [4, "OPP-B", 2],
    [5, "OPP-A", 3],
    [6, "OPP-B", 3],
    [7, "OPP-A", 4],
  ]);
  expect(rows[2]!.data).toBe('{"changes":{"amount":200,"stage":"solution"},"previous":{"amount":100,"stage":"lead"}}');
  expect(rows[4]!.data).toBe('{"changes":{"amount":300},"previous":{"amount":200}}');
  expect(rows[6]!.data).toBe('{"changes":{"confidencePct":"B"},"previous":{"confidencePct":null}}');
  return { path: service.path, rows, head: { position: 7, hash: rows[6]!.hash } };
}

/** Verifies the file on a fresh connection with the project's pragmas. */
function verifyFile(path: string, options: { expectHead?: Head } = {}): VerifyReport {
  return verifyBothWays(openTracked(resources, path), options);
}

/** Runs one statement and checks that it touched exactly `expected` rows (so a typo cannot pass silently). */
function runChanging(db: Database, sql: string, expected = 1): void {
  const result = db.run(sql);
  expect(result.changes).toBe(expected);
}

describe("an untouched store", () => {
  test("verifies, with the counts and the head of the last event", async () => {
    const base = await buildBaseStore();
    const report = verifyFile(base.path);
    expect(report).toEqual({ ok: true, events: 7, opportunities: 2, head: base.head, problem: null, findings: [] });
    expect(base.head.hash).toBe(auditorHash(base.rows[6]!));
  });

  test("verifies against the current head and against an older head the chain still holds", async () => {
    const base = await buildBaseStore();
    expect(verifyFile(base.path, { expectHead: base.head }).ok).toBe(true);
    expect(verifyFile(base.path, { expectHead: { position: 3, hash: base.rows[2]!.hash } }).ok).toBe(true);
  });

  test("a kept head whose hash is not the one at its position fails there", async () => {
    const base = await buildBaseStore();
    const report = verifyFile(base.path, { expectHead: { position: 3, hash: "ab".repeat(32) } });
    expect(report.ok).toBe(false);
    expect(report.problem!.position).toBe(3);
    expect(report.problem!.reason).toContain("hash differs from the expected head");
  });
});

describe("raw SQL tampering that leaves the hashes as they were", () => {
  test("one event's data changed: caught at that position as an altered event", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => runChanging(db, `UPDATE events SET data = replace(data, '"amount":200', '"amount":250') WHERE position = 3`));

    const report = verifyFile(base.path);
    expect(report.ok).toBe(false);
    expect(report.problem!.position).toBe(3);
    expect(report.problem!.reason).toContain("hash does not match");
    // Everything before the altered event is intact.
    expect(report.events).toBe(2);
    expect(report.head).toEqual({ position: 2, hash: base.rows[1]!.hash });
  });

  test("one event's metadata (who did it) changed: caught at that position", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => runChanging(db, `UPDATE events SET metadata = replace(metadata, '"actor":"oms"', '"actor":"bidding"') WHERE position = 6`));
    const report = verifyFile(base.path);
    expect(report.problem).toEqual({ position: 6, reason: expect.stringContaining("hash does not match") });
    expect(report.events).toBe(5);
  });

  test("one event's recorded_at changed: caught at that position", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => runChanging(db, `UPDATE events SET recorded_at = '2020-01-01T00:00:00.000Z' WHERE position = 1`));
    const report = verifyFile(base.path);
    expect(report.problem).toEqual({ position: 1, reason: expect.stringContaining("hash does not match") });
    expect(report.events).toBe(0);
    expect(report.head).toBeNull();
  });

  test("the last event deleted: the projection gives it away; with the kept head, the removed tail shows", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => runChanging(db, "DELETE FROM events WHERE position = 7"));

    // Without a kept head the chain itself is fine; only the projection still shows event 7's effect.
    const plain = verifyFile(base.path);
    expect(plain.ok).toBe(false);
    expect(plain.problem!.position).toBe(0);
    expect(plain.problem!.reason).toContain("projection row OPP-A differs");
    expect(driftFields(plain.problem!.reason)).toEqual(["confidencePct", "updatedAt", "version"]);
    expect(plain.events).toBe(6);

    const withHead = verifyFile(base.path, { expectHead: base.head });
    expect(withHead.ok).toBe(false);
    expect(withHead.problem!.position).toBe(7);
    expect(withHead.problem!.reason).toContain("ends at position 6");
    expect(withHead.problem!.reason).toContain("removed from the end");
  });

  test("a removed tail with a rebuilt projection is internally valid: only the kept head catches it", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      runChanging(db, "DELETE FROM events WHERE position >= 5", 3);
      rebuildOpportunities(db);
    });

    // This is why auditors keep the head outside the database.
    const plain = verifyFile(base.path);
    expect(plain).toEqual({ ok: true, events: 4, opportunities: 2, head: { position: 4, hash: base.rows[3]!.hash }, problem: null, findings: [] });

    const withHead = verifyFile(base.path, { expectHead: base.head });
    expect(withHead.ok).toBe(false);
    expect(withHead.problem!.position).toBe(5);
    expect(withHead.problem!.reason).toContain("the chain ends at position 4, before the expected head 7");
  });

  test("a removed creation at the end leaves a projection row that no event creates", async () => {
    const service = resources.service({ now: new SteppingClock().now });
    await service.writer.execute(createCommand(createBody("OPP-A")), META);
    await service.writer.execute(updateCommand({ opportunityCode: "OPP-A", amount: 5 }), META);
    await service.writer.execute(createCommand(createBody("OPP-B")), META);
    service.close();
    tamper(service.path, (db) => runChanging(db, "DELETE FROM events WHERE position = 3"));

    const db = openTracked(resources, service.path);
    const report = verifyBothWays(db);
    expect(report.ok).toBe(false);
    expect(report.problem).toEqual({ position: 0, reason: "projection has OPP-B, which no event creates" });
    expect(report.events).toBe(2);
    expect(report.opportunities).toBe(1);
    // Rebuilding drops the row; the shortened chain then verifies (only a kept head would show the loss).
    expect(rebuildOpportunities(db)).toMatchObject({ opportunities: 1, events: 2 });
    expect(verifyBothWays(db).ok).toBe(true);
  });

  test("one event deleted in the middle: caught as a missing position", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => runChanging(db, "DELETE FROM events WHERE position = 4"));
    const report = verifyFile(base.path);
    expect(report.ok).toBe(false);
    expect(report.problem!.position).toBe(4);
    expect(report.problem!.reason).toContain("position 4 is missing");
    expect(report.problem!.reason).toContain("next event has position 5");
    expect(report.events).toBe(3);
    expect(report.head).toEqual({ position: 3, hash: base.rows[2]!.hash });
  });

  test("the first event deleted: caught at position 1", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => runChanging(db, "DELETE FROM events WHERE position = 1"));
    const report = verifyFile(base.path);
    expect(report.problem!.position).toBe(1);
    expect(report.problem!.reason).toContain("position 1 is missing");
    expect(report.events).toBe(0);
  });

  test("two events swapped: caught where the link breaks", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      runChanging(db, "UPDATE events SET position = -4 WHERE position = 4");
      runChanging(db, "UPDATE events SET position = 4 WHERE position = 5");
      runChanging(db, "UPDATE events SET position = 5 WHERE position = -4");
    });
    expect(rawRowsOf(base.path).map((r) => r.event_id)).toEqual([0, 1, 2, 4, 3, 5, 6].map((i) => base.rows[i]!.event_id));

    const report = verifyFile(base.path);
    expect(report.ok).toBe(false);
    expect(report.problem!.position).toBe(4);
    expect(report.problem!.reason).toContain("prev_hash does not link to the hash of position 3");
    expect(report.events).toBe(3);
  });

  test("the data of two events swapped: caught at the first of them", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      db.run("UPDATE events SET data = ? WHERE position = 3", [base.rows[4]!.data]);
      db.run("UPDATE events SET data = ? WHERE position = 5", [base.rows[2]!.data]);
    });
    const report = verifyFile(base.path);
    expect(report.problem).toEqual({ position: 3, reason: expect.stringContaining("hash does not match") });
  });

  test("a projection row edited: named with the drifted field; rebuild repairs it", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => runChanging(db, "UPDATE opportunities SET amount = 999 WHERE code = 'OPP-A'"));

    const db = openTracked(resources, base.path);
    const report = verifyBothWays(db);
    expect(report.ok).toBe(false);
    expect(report.problem).toEqual({ position: 0, reason: "projection row OPP-A differs from the events in: amount" });
    // The chain itself is intact: every event was walked.
    expect(report.events).toBe(7);
    expect(report.head).toEqual(base.head);

    expect(rebuildOpportunities(db)).toMatchObject({ opportunities: 2, events: 7 });
    expect(new OpportunitiesTable(db).find("OPP-A")!.amount).toBe(300);
    expect(verifyBothWays(db)).toEqual({ ok: true, events: 7, opportunities: 2, head: base.head, problem: null, findings: [] });
  });

  test("several projection fields edited: every drifted field is named", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => runChanging(db, "UPDATE opportunities SET status = 'lost', version = 9, description = 'x' WHERE code = 'OPP-B'"));
    const db = openTracked(resources, base.path);
    const report = verifyBothWays(db);
    expect(report.problem!.position).toBe(0);
    expect(report.problem!.reason).toContain("projection row OPP-B differs");
    expect(driftFields(report.problem!.reason)).toEqual(["description", "status", "version"]);
    rebuildOpportunities(db);
    expect(verifyBothWays(db).ok).toBe(true);
  });

  test("a projection row deleted: the missing opportunity is named; rebuild repairs it", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => runChanging(db, "DELETE FROM opportunities WHERE code = 'OPP-B'"));
    const db = openTracked(resources, base.path);
    expect(verifyBothWays(db).problem).toEqual({ position: 0, reason: "projection is missing OPP-B" });
    rebuildOpportunities(db);
    expect(verifyBothWays(db)).toEqual({ ok: true, events: 7, opportunities: 2, head: base.head, problem: null, findings: [] });
    expect(new OpportunitiesTable(db).find("OPP-B")!.status).toBe("won");
  });

  test("a projection row that no event creates: named; rebuild removes it", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => runChanging(db, "UPDATE opportunities SET code = 'OPP-X' WHERE code = 'OPP-B'"));
    const db = openTracked(resources, base.path);
    expect(verifyBothWays(db).problem).toEqual({ position: 0, reason: "projection has OPP-X, which no event creates" });
    rebuildOpportunities(db);
    expect(verifyBothWays(db).ok).toBe(true);
    const table = new OpportunitiesTable(db);
    expect(table.find("OPP-X")).toBeNull();
    expect(table.list().map((o) => o.opportunityCode)).toEqual(["OPP-A", "OPP-B"]);
  });
});

describe("an attacker who recomputes every hash after the change", () => {
  test("an update's previous value altered: the chain is valid, the previous-check catches it", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      runChanging(db, `UPDATE events SET data = replace(data, '"previous":{"amount":200}', '"previous":{"amount":250}') WHERE position = 5`);
      rehashFrom(db, 5);
    });
    // The attacker did a perfect job on the chain: an independent auditor's walk finds nothing.
    expect(chainProblems(rawRowsOf(base.path))).toEqual([]);

    const report = verifyFile(base.path);
    expect(report.ok).toBe(false);
    expect(report.problem!.position).toBe(5);
    expect(report.problem!.reason).toContain("previous amount of OPP-A is 250");
    expect(report.problem!.reason).toContain("folded value was 200");

    // With the kept head too, the earliest problem (the previous-check at 5) is the one reported.
    const withHead = verifyFile(base.path, { expectHead: base.head });
    expect(withHead.problem!.position).toBe(5);
    expect(withHead.problem!.reason).toContain("previous amount");
  });

  test("an earlier update's new value altered: the next update's previous value gives it away", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      runChanging(db, `UPDATE events SET data = replace(data, '"changes":{"amount":200', '"changes":{"amount":250') WHERE position = 3`);
      rehashFrom(db, 3);
      rebuildOpportunities(db);
    });
    expect(chainProblems(rawRowsOf(base.path))).toEqual([]);
    const report = verifyFile(base.path);
    expect(report.problem!.position).toBe(5);
    expect(report.problem!.reason).toContain("previous amount of OPP-A is 200, but the folded value was 250");
  });

  test("a stream's last update altered, projection rebuilt: valid without the kept head, caught with it", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      runChanging(db, `UPDATE events SET data = replace(data, '"confidencePct":"B"', '"confidencePct":"C"') WHERE position = 7`);
      rehashFrom(db, 7);
    });
    // Before the attacker also rebuilds the projection, the projection still shows the real value.
    const drift = verifyFile(base.path);
    expect(drift.problem).toEqual({ position: 0, reason: "projection row OPP-A differs from the events in: confidencePct" });

    tamper(base.path, (db) => rebuildOpportunities(db));
    const plain = verifyFile(base.path);
    expect(plain.ok).toBe(true);
    expect(plain.events).toBe(7);
    expect(plain.head!.position).toBe(7);
    expect(plain.head!.hash).not.toBe(base.head.hash);

    const withHead = verifyFile(base.path, { expectHead: base.head });
    expect(withHead.ok).toBe(false);
    expect(withHead.problem!.position).toBe(7);
    expect(withHead.problem!.reason).toContain(`hash differs from the expected head ${base.head.hash}`);
  });

  test("a gap in positions (last event moved from 7 to 9): caught as a missing position", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      runChanging(db, "UPDATE events SET position = 9 WHERE position = 7");
      rehashFrom(db, 9);
    });
    // Its link and its own hash hold: only the position is wrong.
    const moved = rawRowsOf(base.path)[6]!;
    expect(moved.position).toBe(9);
    expect(moved.prev_hash).toBe(base.rows[5]!.hash);
    expect(auditorHash(moved)).toBe(moved.hash);

    const report = verifyFile(base.path);
    expect(report.problem).toEqual({ position: 7, reason: "position 7 is missing: the next event has position 9" });
    expect(report.events).toBe(6);
  });

  test("a broken prev_hash link (row re-hashed on its own): caught at that row", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      // Point event 4 at event 2 instead of 3, and make its own hash fit its altered columns.
      const row = { ...base.rows[3]!, prev_hash: base.rows[1]!.hash };
      db.run("UPDATE events SET prev_hash = ?, hash = ? WHERE position = 4", [row.prev_hash, auditorHash(row)]);
    });
    const report = verifyFile(base.path);
    expect(report.ok).toBe(false);
    expect(report.problem!.position).toBe(4);
    expect(report.problem!.reason).toContain("prev_hash does not link to the hash of position 3");
  });

  test("a first event whose prev_hash is not 64 zeros, chain re-hashed after it: caught at position 1", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      let prev = "1".repeat(64);
      const update = db.prepare("UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?");
      for (const row of rawRows(db)) {
        const next = { ...row, prev_hash: prev };
        next.hash = auditorHash(next);
        update.run(next.prev_hash, next.hash, row.position);
        prev = next.hash;
      }
    });
    const report = verifyFile(base.path);
    expect(report.problem!.position).toBe(1);
    expect(report.problem!.reason).toContain("prev_hash of the first event is not 64 zeros");
  });

  test("a version gap within a stream: caught at the event that skips", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      runChanging(db, "UPDATE events SET version = 4 WHERE position = 6");
      rehashFrom(db, 6);
    });
    expect(chainProblems(rawRowsOf(base.path))).toEqual([]);
    const report = verifyFile(base.path);
    expect(report.problem!.position).toBe(6);
    expect(report.problem!.reason).toContain("version 4 of OPP-B should be 3");
  });

  test("an update before its stream's creation: caught at the update", async () => {
    const base = await buildBaseStore();
    // OPP-A's first update moves to position 1 (as version 1), its creation to position 3 (as version 2).
    const rows = base.rows.map((row) => ({ ...row }));
    const update = { ...base.rows[2]!, position: 1, version: 1 };
    const creation = { ...base.rows[0]!, position: 3, version: 2 };
    rows[0] = update;
    rows[2] = creation;
    tamper(base.path, (db) => replaceAllEvents(db, rechain(rows)));
    expect(chainProblems(rawRowsOf(base.path))).toEqual([]);

    const report = verifyFile(base.path);
    expect(report.problem!.position).toBe(1);
    expect(report.problem!.reason).toContain("OPP-A is updated before it was created");
  });

  test("a stream created a second time: caught at the second creation", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      db.run("UPDATE events SET type = 'OpportunityCreated', data = ? WHERE position = 7", [base.rows[0]!.data]);
      rehashFrom(db, 7);
    });
    const report = verifyFile(base.path);
    expect(report.problem!.position).toBe(7);
    expect(report.problem!.reason).toContain("OPP-A is created a second time");
  });

  test("a tail of three events removed and the projection rebuilt: the kept head names the first missing position", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      runChanging(db, "DELETE FROM events WHERE position > 4", 3);
      rebuildOpportunities(db);
    });
    expect(verifyFile(base.path).ok).toBe(true);
    const report = verifyFile(base.path, { expectHead: base.head });
    expect(report.problem!.position).toBe(5);
    expect(report.problem!.reason).toContain("removed from the end");
  });

  test("an update whose previous omits a changed field (history would say 'from null'): caught at that update", async () => {
    const base = await buildBaseStore();
    // Event 5 changed amount 200 -> 300; the attacker erases where it came from.
    tamper(base.path, (db) => {
      runChanging(db, `UPDATE events SET data = '{"changes":{"amount":300},"previous":{}}' WHERE position = 5`);
      rehashFrom(db, 5);
    });
    expect(chainProblems(rawRowsOf(base.path))).toEqual([]);
    const report = verifyFile(base.path);
    expect(report.ok).toBe(false);
    expect(report.problem?.position).toBe(5);
    expect(report.problem?.reason).toContain("previous");
    expect(report.problem?.reason).toContain("amount");
  });

  test("an event whose data is not JSON (hash recomputed): reported at its position, not thrown", async () => {
    const base = await buildBaseStore();
    tamper(base.path, (db) => {
      runChanging(db, "UPDATE events SET data = 'not json' WHERE position = 3");
      rehashFrom(db, 3);
    });
    let report: VerifyReport | undefined;
    expect(() => {
      report = verifyFile(base.path);
    }).not.toThrow();
    expect(report?.ok).toBe(false);
    expect(report?.problem?.position).toBe(3);
  });
});

/** The rows of a file as they are now, read on a short-lived read-only connection. */
function rawRowsOf(path: string): EventRow[] {
  const db = new Database(path, { readonly: true });
  try {
    return rawRows(db);
  } finally {
    db.close();
  }
}
