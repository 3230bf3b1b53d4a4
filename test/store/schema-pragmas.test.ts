import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { openServiceStore } from "../../src/service-store";
import { Resources } from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

describe("database opened by the service store", () => {
  test("uses WAL, synchronous=FULL, recursive triggers and a busy timeout", () => {
    const { db } = resources.service();
    expect(db.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    // 2 = FULL: an acknowledged append survives power loss.
    expect(db.query("PRAGMA synchronous").get()).toEqual({ synchronous: 2 });
    expect(db.query("PRAGMA recursive_triggers").get()).toEqual({ recursive_triggers: 1 });
    expect(db.query("PRAGMA busy_timeout").get()).toEqual({ timeout: 5000 });
  });

  test("WAL mode is persisted in the file: a plain connection sees it too", () => {
    const { path } = resources.service();
    const plain = new Database(path, { readonly: true });
    resources.onDispose(() => plain.close());
    expect(plain.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
  });

  test("events table has the designed columns, UNIQUE(stream_id, version) and both append-only triggers", () => {
    const { db } = resources.service();
    const columns = db.query<{ name: string; type: string; notnull: number; pk: number }, []>("PRAGMA table_info(events)").all();
    expect(columns.map((c) => c.name)).toEqual([
      "position",
      "event_id",
      "stream_id",
      "version",
      "type",
      "schema_version",
      "data",
      "metadata",
      "recorded_at",
      "prev_hash",
      "hash",
    ]);
    expect(columns.find((c) => c.name === "position")).toMatchObject({ type: "INTEGER", pk: 1 });
    expect(columns.filter((c) => c.name !== "position").every((c) => c.notnull === 1)).toBe(true);

    const uniqueIndexes = db
      .query<{ name: string; unique: number }, []>("PRAGMA index_list(events)")
      .all()
      .filter((index) => index.unique === 1)
      .map((index) => db.query<{ name: string }, []>(`PRAGMA index_info("${index.name}")`).all().map((c) => c.name).join(","));
    expect(uniqueIndexes.sort()).toEqual(["event_id", "stream_id,version"]);

    const triggers = db
      .query<{ name: string; sql: string }, []>("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events' ORDER BY name")
      .all();
    expect(triggers.map((t) => t.name)).toEqual(["events_no_delete", "events_no_update"]);
    expect(triggers[0]!.sql).toContain("BEFORE DELETE");
    expect(triggers[1]!.sql).toContain("BEFORE UPDATE");
  });

  test("opening the same file twice keeps the schema (CREATE ... IF NOT EXISTS) and the data", async () => {
    const first = resources.service();
    const result = await first.writer.execute(
      { type: "CreateOpportunity", opportunityCode: "KEEP-1", endCustomerName: "C", fields: { opportunityName: "N" } },
      { actor: "oms", requestId: "r" },
    );
    expect(result).toMatchObject({ ok: true, id: 1, appended: 1 });
    first.close();
    const again = resources.service({ path: first.path });
    expect(again.store.head()).toEqual({ position: 1, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(again.opportunities.find("KEEP-1")?.opportunityName).toBe("N");
  });
});

describe("a --db that is no database", () => {
  const failure = (path: string) => {
    try {
      openServiceStore(path).close();
      return null;
    } catch (error) {
      return { message: (error as Error).message, code: (error as { code?: string }).code };
    }
  };

  test("a directory or another program's file is named in the error, with SQLite's reason and code", () => {
    const directory = resources.tempDir();
    const notADatabase = join(directory, "notes.txt");
    writeFileSync(notADatabase, "meeting notes, not a database\n".repeat(200));
    expect(failure(directory)).toEqual({ message: `cannot open the database ${directory}: unable to open database file`, code: "SQLITE_CANTOPEN" });
    expect(failure(notADatabase)).toEqual({ message: `cannot open the database ${notADatabase}: file is not a database`, code: "SQLITE_NOTADB" });
  });
});
