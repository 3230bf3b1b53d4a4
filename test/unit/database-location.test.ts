import { describe, expect, test } from "bun:test";
import { resolveSettings } from "../../src/settings";
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
  test("a PostgreSQL URL is refused at start (not a file named 'postgres:'), its password masked", () => {
    expect(() => resolveSettings(["db"], { db: "postgres://crm:s3cr3t@db:5432/crm" }, {})).toThrow(
      'invalid db (--db): "postgres://crm:***@db:5432/crm" is a PostgreSQL URL, which this version cannot use yet; give a SQLite file path',
    );
  });

  test("a URL of another scheme is refused too", () => {
    expect(() => resolveSettings(["db"], {}, { DB_PATH: "mysql://root:pw@db/crm" })).toThrow('invalid db (env DB_PATH): "mysql://root:***@db/crm" is a URL of an unsupported scheme (mysql:)');
  });
});
