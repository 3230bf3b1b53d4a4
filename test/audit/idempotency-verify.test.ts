import type { Database } from "bun:sqlite";
import { describe, expect, spyOn, test } from "bun:test";
import { formatHead } from "../../events/verify-chain";
import { describeIdempotencyFinding, verifyIdempotencyKeys } from "../../src/audit/verify-idempotency";
import { verifyStore } from "../../src/audit/verify-store";
import { verify } from "../../src/cli/verify";
import type { IdempotencyClaim } from "../../src/idempotency";
import type { ServiceStore } from "../../src/service-store";
import type { GroupCommit } from "../../src/write/group-commit";
import { META, createCommand, updateCommand, useTempService } from "../reliability/reliability-support";
import { backendsPerTest, createBackendDatabase, sqliteOnly, verifyBackend } from "../support/test-backend";
import { tamper } from "./audit-fixture";

// Issue 11, item 7: editing idempotency_keys.outcome passed verify, and the service then replayed a forged
// success ({"code":"0",…,"data":424242}) for an opportunity that does not exist. Every stored answer must follow
// from the events at the position its row names; every finding names the client and key, never a crash.
// The answers the service stores check out on either backend (TEST_BACKEND); the forged ones are written into
// a SQLite file's rows behind the service's back, so those tests run on SQLite only.

const temp = useTempService();
const backends = backendsPerTest();
const claim = (key: string, client = "oms"): IdempotencyClaim => ({ client, key, fingerprint: `fp-${key}` });
const FORGED = JSON.stringify({ ok: true, id: 424242, version: 1 });

/** One keyed request of every kind the writer stores an answer for. */
async function storeOfEveryAnswer(service: { writer: Pick<GroupCommit, "execute"> }): Promise<void> {
  const { writer } = service;
  expect(await writer.execute(createCommand("OPP-A", { amount: 1 }), META, claim("create-a"))).toMatchObject({ ok: true, appended: 1 });
  expect(await writer.execute(updateCommand("OPP-A", { amount: 2 }), META, claim("update-a"))).toMatchObject({ ok: true, version: 2 });
  expect(await writer.execute(updateCommand("OPP-A", { amount: 2 }), META, claim("same-a"))).toMatchObject({ ok: true, version: 2 });
  expect(await writer.execute(updateCommand("OPP-NONE", { amount: 3 }), META, claim("missing"))).toMatchObject({ reason: "not_found" });
  expect(await writer.execute(createCommand("OPP-A"), META, claim("again-a"))).toMatchObject({ reason: "already_exists" });
  expect(await writer.execute(updateCommand("OPP-A", { amount: 4 }, 1), META, claim("stale-a"))).toMatchObject({ reason: "conflict" });
  // One batch: several keyed requests in one transaction, two on the same stream, one from another client.
  const batch = await Promise.all([
    writer.execute(createCommand("OPP-B"), META, claim("create-b")),
    writer.execute(updateCommand("OPP-B", { amount: 5 }), META, claim("update-b")),
    writer.execute(updateCommand("OPP-A", { amount: 6 }), { ...META, actor: "bidding" }, claim("update-a", "bidding")),
    writer.execute(updateCommand("OPP-C", { amount: 7 }), META, claim("missing-c")),
  ]);
  expect(batch.map((result) => result.ok)).toEqual([true, true, true, false]);
  expect(await writer.execute(updateCommand("OPP-A", { amount: 2 }), META, claim("update-a"))).toMatchObject({ replayed: true });
}

const outcomeOf = (db: Database, key: string, client = "oms") =>
  db.query<{ outcome: string }, [string, string]>("SELECT outcome FROM idempotency_keys WHERE client = ? AND key = ?").get(client, key)!.outcome;

/** Closes the service and rewrites rows of the file behind its back, as an attacker with the file would. */
function forge(service: ServiceStore, sql: string, ...params: (string | number | null)[]): void {
  temp.close(service);
  tamper(temp.path, (db) => db.run(sql, params));
}

function verifyFile(): ReturnType<typeof verifyIdempotencyKeys> {
  const service = temp.open();
  return verifyIdempotencyKeys(service.db);
}

describe("stored answers the service wrote", () => {
  test("every kind of answer, in batches and from two clients, checks out against the events", async () => {
    const service = await backends.open();
    await storeOfEveryAnswer(service);
    expect(await verifyBackend(service)).toMatchObject({ ok: true, findings: [] });
  });

  // Two connections: on SQLite as the HTTP thread and the writer thread have; on PostgreSQL, two instances.
  test("answers stored by two connections on one database (as the HTTP thread and the writer thread do) check out", async () => {
    const database = await createBackendDatabase();
    try {
      const first = await database.open();
      await first.writer.execute(createCommand("OPP-X"), META, claim("x-1"));
      const second = await database.open();
      await second.writer.execute(updateCommand("OPP-X", { amount: 9 }), META, claim("x-2"));
      await first.writer.execute(updateCommand("OPP-X", { amount: 9 }), META, claim("x-3"));
      expect(await verifyBackend(first)).toMatchObject({ ok: true, findings: [] });
    } finally {
      await database.drop();
    }
  });
});

// SQLite only: the answers are forged in the rows of a SQLite file, with a plain connection.
sqliteOnly.describe("forged answers", () => {
  test("the issue's attack: a refusal rewritten into a success for an opportunity that does not exist", async () => {
    const service = temp.open();
    await storeOfEveryAnswer(service);
    forge(service, "UPDATE idempotency_keys SET outcome = ? WHERE key = 'missing'", FORGED);

    // The harm: the service replays the forged success.
    const reopened = temp.open();
    expect(await reopened.writer.execute(updateCommand("OPP-NONE", { amount: 3 }), META, claim("missing"))).toMatchObject({ ok: true, id: 424242, replayed: true });
    const findings = verifyIdempotencyKeys(reopened.db);
    expect(findings).toEqual([
      { client: "oms", key: "missing", reason: expect.stringContaining('answers version 1 of "OPP-NONE", but at position') },
    ]);
  });

  test("a refusal turned into a success of an opportunity created later, with its true id, is found", async () => {
    const service = temp.open();
    await service.writer.execute(updateCommand("OPP-LATE", { amount: 1 }), META, claim("early"));
    await service.writer.execute(createCommand("OPP-LATE"), META);
    forge(service, "UPDATE idempotency_keys SET outcome = ? WHERE key = 'early'", JSON.stringify({ ok: true, id: 1, version: 1 }));
    expect(verifyFile().map((finding) => finding.reason)).toEqual([
      'the stored success answers version 1 of "OPP-LATE", but at position 0 the events have it at version 0',
    ]);
  });

  test("a success turned into a refusal is found: the events that carry the key are not accounted for", async () => {
    const service = temp.open();
    await storeOfEveryAnswer(service);
    forge(service, "UPDATE idempotency_keys SET outcome = ?, appended = 0 WHERE key = 'create-a'", JSON.stringify({ ok: false, reason: "not_found", message: "商机不存在" }));
    expect(verifyFile()).toEqual([
      {
        client: "oms",
        key: "create-a",
        reason: "events carrying this key and client are at position(s) 1 after position 0, but the stored answer accounts for none",
      },
    ]);
  });

  test("a success that answers another opportunity's id, or a version never reached, is found", async () => {
    const service = temp.open();
    await storeOfEveryAnswer(service);
    const createB = JSON.parse(outcomeOf(service.db, "create-b"));
    temp.close(service);
    tamper(temp.path, (db) => {
      db.run("UPDATE idempotency_keys SET outcome = ? WHERE key = 'create-b'", [JSON.stringify({ ...createB, id: 1 })]);
      db.run("UPDATE idempotency_keys SET outcome = ? WHERE key = 'same-a'", [JSON.stringify({ ok: true, id: 1, version: 3 })]);
    });
    const findings = verifyFile();
    expect(findings.map((finding) => finding.key)).toEqual(["create-b", "same-a"]);
    expect(findings[0]!.reason).toBe('the stored success answers id 1, but the events created "OPP-B" with id 2');
    expect(findings[1]!.reason).toStartWith('the stored success answers version 3 of "OPP-A", but at position 2 the events have it at version 2');
  });

  test("refusals that the events contradict are found", async () => {
    const service = temp.open();
    await storeOfEveryAnswer(service);
    temp.close(service);
    tamper(temp.path, (db) => {
      // OPP-A existed when "again-a" was refused; at "stale-a" it was at version 2, not 5.
      db.run("UPDATE idempotency_keys SET outcome = ? WHERE key = 'again-a'", [JSON.stringify({ ok: false, reason: "not_found", message: "商机不存在" })]);
      db.run("UPDATE idempotency_keys SET outcome = ? WHERE key = 'stale-a'", [JSON.stringify({ ok: false, reason: "conflict", message: "商机已被修改，当前版本为 5", version: 5 })]);
      db.run("UPDATE idempotency_keys SET outcome = ? WHERE key = 'missing'", [JSON.stringify({ ok: false, reason: "not_found", message: "已保存" })]);
    });
    expect(verifyFile().map((finding) => [finding.key, finding.reason])).toEqual([
      ["again-a", 'the stored refusal says "商机不存在", but at position 2 "OPP-A" was at version 2'],
      ["missing", 'the stored refusal says "已保存", but at position 2 "OPP-NONE" did not exist'],
      ["stale-a", 'the stored refusal says "商机已被修改，当前版本为 5", but at position 2 "OPP-A" was at version 2'],
    ]);
  });

  test("rows no reader expects are findings, not crashes", async () => {
    const service = temp.open();
    await storeOfEveryAnswer(service);
    temp.close(service);
    tamper(temp.path, (db) => {
      db.run("UPDATE idempotency_keys SET outcome = 'not json' WHERE key = 'create-a'");
      db.run(`UPDATE idempotency_keys SET outcome = '{"ok":"yes"}' WHERE key = 'update-a' AND client = 'oms'`);
      db.run(`UPDATE idempotency_keys SET outcome = '{"ok":true,"id":1,"version":2,"extra":1}' WHERE key = 'same-a'`);
      db.run("UPDATE idempotency_keys SET position = 'abc' WHERE key = 'missing'");
      db.run("UPDATE idempotency_keys SET position = 99 WHERE key = 'again-a'");
      db.run("UPDATE idempotency_keys SET appended = 2 WHERE key = 'stale-a'");
      db.run(`INSERT INTO idempotency_keys (client, key, fingerprint, outcome, created_at) VALUES (?, ?, 'f', '[]', 'x')`, ["evil\u001b[2J", "k\nv99"]);
    });
    const findings = verifyFile();
    expect(findings.map((finding) => [finding.key, finding.reason])).toEqual([
      ["k\nv99", "the stored answer is not an object"],
      ["again-a", "the proof names positions up to 99, beyond the chain's end at 5"],
      ["create-a", "the stored answer is not JSON"],
      ["missing", 'the proof columns are malformed (stream_id "OPP-NONE", position "abc", appended 0)'],
      ["same-a", 'the stored success is malformed: {"ok":true,"id":1,"version":2,"extra":1}'],
      ["stale-a", "events carrying this key and client are at position(s) none after position 2, but the stored answer accounts for 3, 4"],
      ["update-a", 'the stored answer has no ok true/false: {"ok":"yes"}'],
    ]);
    // Printed with control characters escaped: a forged row cannot forge lines or drive the auditor's terminal.
    expect(describeIdempotencyFinding(findings[0]!)).toBe('client "evil\\u001b[2J" key "k\\nv99": the stored answer is not an object');
  });
});

// SQLite only: rows of a SQLite file rewritten by hand, and a SQLite database of schema version 2.
sqliteOnly.describe("rows stored before the proof columns", () => {
  test("a true success without proof passes; a forged one names an opportunity no event creates", async () => {
    const service = temp.open();
    await storeOfEveryAnswer(service);
    temp.close(service);
    tamper(temp.path, (db) => {
      db.run("UPDATE idempotency_keys SET stream_id = NULL, position = NULL, appended = NULL");
      db.run("UPDATE idempotency_keys SET outcome = ? WHERE key = 'create-b'", [FORGED]);
    });
    expect(verifyFile()).toEqual([{ client: "oms", key: "create-b", reason: "the stored success answers id 424242, but no event creates an opportunity with that id" }]);
  });

  test("a database of schema version 2 (no proof columns) is checked the same way, read as it is", async () => {
    const service = temp.open();
    await storeOfEveryAnswer(service);
    temp.close(service);
    tamper(temp.path, (db) => {
      db.run("DROP TABLE idempotency_key_counts");
      for (const column of ["stream_id", "position", "appended"]) db.run(`ALTER TABLE idempotency_keys DROP COLUMN ${column}`);
      db.run("PRAGMA user_version = 2");
      db.run("UPDATE idempotency_keys SET outcome = ? WHERE key = 'update-b'", [JSON.stringify({ ok: true, id: 2, version: 7 })]);
      expect(verifyIdempotencyKeys(db)).toEqual([
        { client: "oms", key: "update-b", reason: 'the stored success answers version 7 of "OPP-B", which the events never reach (version 2)' },
      ]);
    });
  });
});

describe("verify", () => {
  // SQLite only: the forged row is written into the file, which the CLI then verifies.
  sqliteOnly.test("the forged success of the issue fails verify --expect-head with a FAILED line naming table, client and key", async () => {
    const service = temp.open();
    await storeOfEveryAnswer(service);
    const head = formatHead(verifyStore(service.db).head);
    forge(service, "UPDATE idempotency_keys SET outcome = ? WHERE key = 'missing'", FORGED);

    const reopened = temp.open();
    const report = verifyStore(reopened.db);
    expect(report.ok).toBe(false);
    expect(report.findings).toEqual([
      {
        position: 0,
        at: "table idempotency_keys",
        reason: 'client "oms" key "missing": the stored success answers version 1 of "OPP-NONE", but at position 2 the events have it at version 0',
      },
    ]);
    temp.close(reopened);

    const write = spyOn(process.stdout, "write").mockImplementation(() => true);
    let code: number;
    let printed: string;
    try {
      code = await verify(["--db", temp.path, "--expect-head", head], {});
      printed = write.mock.calls.map((call) => String(call[0])).join("");
    } finally {
      write.mockRestore();
    }
    expect(code).toBe(1);
    expect(printed).toStartWith(
      'FAILED at table idempotency_keys: client "oms" key "missing": the stored success answers version 1 of "OPP-NONE", but at position 2 the events have it at version 0\n',
    );
  });

  test("a store whose stored answers are all true passes verify", async () => {
    const service = await backends.open();
    await storeOfEveryAnswer(service);
    expect(await verifyBackend(service)).toMatchObject({ ok: true, findings: [] });
  });
});
