/**
 * What verify sees beyond the chain: the database's own integrity (integrity_check), its schema (the
 * append-only triggers and their definitions, the tables' constraints), odd values in the projection; and that
 * every finding is reported, as a FAILED line with its position or table, never as a crash. SQLite only (not
 * in the Makefile's BACKEND_NEUTRAL_SUITES): the findings come from altering a SQLite file (its pages, triggers,
 * tables and column types).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, openSync, writeSync } from "node:fs";
import { Database } from "bun:sqlite";
import { atPosition, FindingList } from "../../src/audit/verify-findings";
import { verifyStore } from "../../src/audit/verify-store";
import { verify } from "../../src/cli/verify";
import { captureCli } from "../support/cli-output";
import { createBody, createCommand, META, Resources, SteppingClock, updateCommand } from "../store/store-fixture";
import { openTracked, rehashFrom, tamper, verifyBothWays } from "./audit-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

/** Three events on two opportunities, the service closed (everything in the main file). */
async function smallStore(): Promise<string> {
  const service = resources.service({ now: new SteppingClock().now });
  await service.writer.execute(createCommand(createBody("OPP-A", { amount: 100 })), META);
  await service.writer.execute(createCommand(createBody("OPP-B")), META);
  await service.writer.execute(updateCommand({ opportunityCode: "OPP-A", amount: 200 }), META);
  service.close();
  return service.path;
}

const verifyFile = (path: string) => verifyBothWays(openTracked(resources, path));
const reasons = (path: string) => verifyFile(path).findings.map((finding) => `${finding.at}: ${finding.reason}`);

describe("the append-only triggers and the schema", () => {
  test("both triggers dropped: two findings, even though every event is intact", async () => {
    const path = await smallStore();
    tamper(path, () => {}, { keepTriggersDropped: true });
    const report = verifyFile(path);
    expect(report.ok).toBe(false);
    expect(report.findings.map((finding) => [finding.at, finding.reason])).toEqual([
      ["schema", "trigger events_no_delete is missing: the table is no longer guarded"],
      ["schema", "trigger events_no_update is missing: the table is no longer guarded"],
    ]);
    // The events themselves are sound.
    expect(report.events).toBe(3);
  });

  test("a trigger replaced by one that does nothing: named as not defined as this binary defines it", async () => {
    const path = await smallStore();
    tamper(
      path,
      (db) => db.run("CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT 1; END"),
      { keepTriggersDropped: true },
    );
    expect(reasons(path)).toEqual([
      "schema: trigger events_no_delete is missing: the table is no longer guarded",
      expect.stringMatching(/^schema: trigger events_no_update is not defined as this binary defines it: CREATE TRIGGER events_no_update .*SELECT 1; END$/),
    ]);
  });

  test("a trigger of someone else's on a table is named", async () => {
    const path = await smallStore();
    tamper(path, (db) => db.run("CREATE TRIGGER sneaky AFTER INSERT ON events BEGIN UPDATE opportunities SET amount = 1; END"));
    expect(reasons(path)).toEqual([expect.stringMatching(/^schema: unexpected trigger sneaky on events: CREATE TRIGGER sneaky/)]);
  });

  test("the events table rebuilt without UNIQUE (stream_id, version): named", async () => {
    const path = await smallStore();
    tamper(path, (db) => {
      db.run("ALTER TABLE events RENAME TO events_old");
      db.run(`CREATE TABLE events (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1), type TEXT NOT NULL, schema_version INTEGER NOT NULL, data TEXT NOT NULL,
        metadata TEXT NOT NULL, recorded_at TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)`);
      db.run("INSERT INTO events SELECT * FROM events_old");
      db.run("DROP TABLE events_old");
    });
    expect(reasons(path)).toEqual([expect.stringMatching(/^schema: table events is not defined as this binary defines it: /)]);
  });

  test("a store whose projection was rebuilt (the table renamed into place) has the expected schema", async () => {
    const path = await smallStore();
    const { rebuildOpportunities } = await import("../../src/storage/sqlite/projection-rebuild");
    const db = openTracked(resources, path);
    rebuildOpportunities(db);
    expect(verifyBothWays(db)).toMatchObject({ ok: true, findings: [] });
  });
});

describe("the database's own integrity", () => {
  test("a damaged index page: integrity_check's findings are reported, and the events are still checked", async () => {
    const path = await smallStore();
    const probe = new Database(path);
    const { rootpage } = probe.query<{ rootpage: number }, []>("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_events_1'").get()!;
    const { page_size } = probe.query<{ page_size: number }, []>("PRAGMA page_size").get()!;
    probe.close();
    // The end of the index's root page holds its cells (event ids): overwrite a few key bytes.
    const file = openSync(path, "r+");
    writeSync(file, Buffer.from("ZZZZZZZZ"), 0, 8, rootpage * page_size - 20);
    closeSync(file);

    const report = verifyFile(path);
    expect(report.ok).toBe(false);
    const database = report.findings.filter((finding) => finding.at === "database");
    expect(database.length).toBeGreaterThan(0);
    expect(database[0]!.reason).toStartWith("integrity_check: ");
    expect(database.map((finding) => finding.reason).join("\n")).toContain("sqlite_autoindex_events_1");
  });
});

describe("odd values and several findings", () => {
  test("opportunities.amount = 'abc': a finding for that row, not a crash on NaN", async () => {
    const path = await smallStore();
    tamper(path, (db) => db.run("UPDATE opportunities SET amount = 'abc' WHERE code = 'OPP-A'"));
    let report: ReturnType<typeof verifyStore> | undefined;
    expect(() => (report = verifyFile(path))).not.toThrow();
    expect(report!.findings).toEqual([{ position: 0, at: "table opportunities", reason: "projection row OPP-A differs from the events in: amount" }]);
  });

  test("every finding is reported: an altered event, a drifted projection row and a dropped trigger together", async () => {
    const path = await smallStore();
    tamper(
      path,
      (db) => {
        db.run(`UPDATE events SET data = replace(data, '"Name of OPP-B"', '"Forged"') WHERE position = 2`);
        db.run("UPDATE opportunities SET stage = 'won' WHERE code = 'OPP-A'");
        db.run("DROP TRIGGER IF EXISTS events_no_delete");
        db.run("CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END");
      },
      { keepTriggersDropped: true },
    );
    const report = verifyFile(path);
    expect(report.findings.map((finding) => finding.at)).toEqual(["schema", "position 2", "table opportunities", "table opportunities"]);
    expect(report.findings[1]!.reason).toContain("hash does not match");
    expect(report.findings[2]!.reason).toBe("projection row OPP-A differs from the events in: stage");
    // The forged name was folded: the projection row of OPP-B no longer equals it.
    expect(report.findings[3]!.reason).toBe("projection row OPP-B differs from the events in: opportunityName");
    expect(report.problem).toEqual({ position: 0, reason: "trigger events_no_delete is missing: the table is no longer guarded" });
  });

  test("two altered events far apart are both named, each once", async () => {
    const path = await smallStore();
    tamper(path, (db) => {
      db.run(`UPDATE events SET metadata = replace(metadata, '"oms"', '"bidding"') WHERE position IN (1, 3)`);
      db.run(`UPDATE events SET recorded_at = 'not-a-date' WHERE position = 3`);
    });
    const findings = verifyFile(path).findings.map((finding) => [finding.at, finding.reason]);
    expect(findings).toEqual([
      ["position 1", "hash does not match the event's stored columns (the event was altered)"],
      ["position 3", "hash does not match the event's stored columns (the event was altered)"],
      ["position 3", 'recorded_at "not-a-date" is not a UTC time like 2026-04-30T02:20:30.123Z'],
      // The altered event is still folded: the projection kept the true time.
      ["table opportunities", "projection row OPP-A differs from the events in: updatedAt"],
    ]);
  });

  test("a column of the wrong type (a blob for data, rehashed as stored): a finding, not a crash", async () => {
    const path = await smallStore();
    tamper(path, (db) => db.run("UPDATE events SET data = CAST(data AS BLOB) WHERE position = 3"));
    const report = verifyFile(path);
    expect(report.findings[0]).toEqual({ position: 3, at: "position 3", reason: "the row's columns are not an event: column data must be a string" });
  });
});

describe("events the service could not read, every hash recomputed", () => {
  test("metadata null and recorded_at not a date on the last event: both named, where they used to verify OK", async () => {
    const path = await smallStore();
    tamper(path, (db) => {
      db.run("UPDATE events SET metadata = 'null', recorded_at = 'not-a-date' WHERE position = 3");
      rehashFrom(db, 3);
    });
    expect(reasons(path)).toEqual([
      'position 3: recorded_at "not-a-date" is not a UTC time like 2026-04-30T02:20:30.123Z',
      "table opportunities: projection row OPP-A differs from the events in: updatedAt",
    ]);
    tamper(path, (db) => {
      db.run("UPDATE events SET recorded_at = '2026-01-02T03:04:07.008Z' WHERE position = 3");
      rehashFrom(db, 3);
    });
    // The time put back is the true one: only the metadata is left to name.
    expect(reasons(path)).toEqual(["position 3: metadata does not fit its schema at /: Expected object"]);
  });
});

describe("checks that cannot run", () => {
  test("the events table dropped: named by the schema check, and the walk's failure is a finding too", async () => {
    const path = await smallStore();
    tamper(path, (db) => db.run("DROP TABLE events"), { keepTriggersDropped: true });
    expect(reasons(path)).toEqual([
      "schema: table events is missing",
      "schema: trigger events_no_delete is missing: the table is no longer guarded",
      "schema: trigger events_no_update is missing: the table is no longer guarded",
      "table events: the check could not finish: no such table: events",
      "table opportunities: projection has OPP-A, which no event creates",
      "table opportunities: projection has OPP-B, which no event creates",
    ]);
  });

  test("findings beyond the limit are counted, not kept", () => {
    const list = new FindingList(2);
    for (let n = 1; n <= 5; n++) list.add(atPosition(n, "bad"));
    expect(list.list()).toEqual([atPosition(1, "bad"), atPosition(2, "bad"), { position: 0, at: "verify", reason: "3 more finding(s) not listed" }]);
  });
});

describe("the verify command", () => {
  test("prints every finding as its own FAILED line, control characters escaped, and exits 1", async () => {
    const path = await smallStore();
    tamper(
      path,
      (db) => {
        db.run("UPDATE opportunities SET amount = 'abc' WHERE code = 'OPP-A'");
        db.run(`UPDATE events SET metadata = '{"actor":"x\\u001b[2J\\nOK: forged","requestId":"r"}' WHERE position = 2`);
        rehashFrom(db, 2);
      },
      { keepTriggersDropped: true },
    );
    const result = await captureCli(() => verify(["--db", path], {}));
    expect(result.code).toBe(1);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines.filter((line) => line.startsWith("FAILED at "))).toEqual([
      "FAILED at schema: trigger events_no_delete is missing: the table is no longer guarded",
      "FAILED at schema: trigger events_no_update is missing: the table is no longer guarded",
      "FAILED at table opportunities: projection row OPP-A differs from the events in: amount",
    ]);
    expect(lines.at(-1)).toMatch(/^\(3 finding\(s\); the chain is sound up to head 3:[0-9a-f]{64}, its first 3 events\)$/);
    expect(result.stdout).not.toContain("\u001b");
  });

  test("a stream id holding a newline and ESC cannot forge a line of verify's output", async () => {
    const path = await smallStore();
    tamper(path, (db) => {
      db.run(`UPDATE events SET stream_id = 'OPP-B' || char(10) || 'OK: 3 events' || char(27) || '[2J' WHERE position = 2`);
      rehashFrom(db, 2);
    });
    const result = await captureCli(() => verify(["--db", path], {}));
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain("\u001b");
    for (const line of result.stdout.trimEnd().split("\n")) expect(line).toMatch(/^(FAILED at |\()/);
    expect(result.stdout).toContain("OPP-B\\nOK: 3 events\\u001b[2J");
  });
});
