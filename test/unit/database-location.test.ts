import { describe, expect, test } from "bun:test";
import { describeSettings, resolveSettings } from "../../src/settings";
import { maskPassword, parseDatabaseLocation } from "../../src/storage/location";

describe("parseDatabaseLocation", () => {
  test.each([
    ["./data/opportunities.db", { kind: "sqlite", path: "./data/opportunities.db" }],
    ["/var/lib/crm/o.db", { kind: "sqlite", path: "/var/lib/crm/o.db" }],
    ["postgres://crm@db:5432/crm", { kind: "postgres", url: "postgres://crm@db:5432/crm" }],
    ["PostgreSQL://crm@db/crm", { kind: "postgres", url: "PostgreSQL://crm@db/crm" }],
  ])("%s", (text, expected) => {
    expect(parseDatabaseLocation(text)).toEqual(expected as never);
  });

  test.each(["mysql://root@db/crm", "file:///tmp/x.db", "sqlite://x.db"])("%s: an unsupported scheme is refused, not taken for a file", (text) => {
    expect(() => parseDatabaseLocation(text)).toThrow(/unsupported scheme/);
  });

  // `serve --db :memory:` once answered "商机不存在" for an opportunity it had just created: the HTTP thread's
  // connection and the writer thread's each opened an in-memory database of their own.
  test.each([":memory:", ""])("%j: an in-memory database is refused, as each connection would see its own", (text) => {
    expect(() => parseDatabaseLocation(text)).toThrow("is not a file: SQLite's in-memory database would be a different one on each of the service's connections");
  });
});

describe("maskPassword", () => {
  test.each([
    ["postgres://crm:s3cr3t@db:5432/crm", "postgres://crm:***@db:5432/crm"],
    ['"postgresql://u:p%40ss@h/d" is wrong', '"postgresql://u:***@h/d" is wrong'],
    ["postgres://crm@db/crm", "postgres://crm@db/crm"],
    ["./data/o.db", "./data/o.db"],
  ])("%s", (text, expected) => {
    expect(maskPassword(text)).toBe(expected);
  });
});

describe("--db with a URL", () => {
  test("a PostgreSQL URL is taken as it is (not rebased as a path), and the log shows it masked", () => {
    const resolved = resolveSettings(["db"], { db: "postgres://crm:s3cr3t@db:5432/crm" }, {});
    expect(resolved.values.db).toBe("postgres://crm:s3cr3t@db:5432/crm");
    expect(describeSettings(resolved)).toEqual({ db: { value: "postgres://crm:***@db:5432/crm", source: "flag" } });
  });

  test("DATABASE_URL is read after DB_PATH", () => {
    expect(resolveSettings(["db"], {}, { DATABASE_URL: "postgres://a@h/d" }).values.db).toBe("postgres://a@h/d");
    expect(resolveSettings(["db"], {}, { DATABASE_URL: "postgres://a@h/d", DB_PATH: "/x.db" }).values.db).toBe("/x.db");
  });

  test("--db :memory: is refused naming the flag, before anything is opened", () => {
    expect(() => resolveSettings(["db"], { db: ":memory:" }, {})).toThrow('invalid db (--db): ":memory:" is not a file');
  });

  test("a URL of another scheme is refused, its password masked, naming the variable it came from", () => {
    expect(() => resolveSettings(["db"], {}, { DB_PATH: "mysql://root:pw@db/crm" })).toThrow('invalid db (env DB_PATH): "mysql://root:***@db/crm" is a URL of an unsupported scheme (mysql:)');
    expect(() => resolveSettings(["db"], {}, { DATABASE_URL: "mysql://root:pw@db/crm" })).toThrow('invalid db (env DATABASE_URL): "mysql://root:***@db/crm"');
  });
});
