import { createHash } from "node:crypto";
import { describe, expect, test } from "bun:test";
import { canonicalJson } from "../../events/canonical-json";
import { eventHash, GENESIS_HASH, hashedColumnsJson, type HashedColumns } from "../../events/hash-chain";

const COLUMNS: HashedColumns = {
  position: 1,
  event_id: "01JTESTEVENT00000000000000",
  stream_id: "OPP-20260401-001",
  version: 1,
  type: "OpportunityUpdated",
  schema_version: 1,
  data: '{"changes":{"stage":"won"},"previous":{"stage":"bidding"}}',
  metadata: '{"actor":"oms","requestId":"req-1"}',
  recorded_at: "2026-04-30T02:20:30.000Z",
};

/** The auditor's computation, written by hand: sorted keys, no whitespace, data and metadata as strings. */
function independentHash(prevHash: string, c: HashedColumns): string {
  const canonical =
    `{"data":${JSON.stringify(c.data)},"event_id":${JSON.stringify(c.event_id)},` +
    `"metadata":${JSON.stringify(c.metadata)},"position":${c.position},"recorded_at":${JSON.stringify(c.recorded_at)},` +
    `"schema_version":${c.schema_version},"stream_id":${JSON.stringify(c.stream_id)},"type":${JSON.stringify(c.type)},` +
    `"version":${c.version}}`;
  return createHash("sha256").update(`${prevHash}\n${canonical}`, "utf8").digest("hex");
}

describe("eventHash", () => {
  test("genesis hash is 64 zeros", () => {
    expect(GENESIS_HASH).toBe("0".repeat(64));
  });

  test("is 64 lower-case hex digits", () => {
    expect(eventHash(GENESIS_HASH, COLUMNS)).toMatch(/^[0-9a-f]{64}$/);
  });

  test("is deterministic", () => {
    expect(eventHash(GENESIS_HASH, COLUMNS)).toBe(eventHash(GENESIS_HASH, { ...COLUMNS }));
  });

  test.each<[string, string, HashedColumns]>([
    ["genesis row", GENESIS_HASH, COLUMNS],
    ["second row with a previous hash", "ab".repeat(32), { ...COLUMNS, position: 2, version: 2 }],
    ["non-ASCII data", GENESIS_HASH, { ...COLUMNS, data: '{"changes":{"description":"外部系统回写成交结果"},"previous":{}}' }],
  ])("matches an independent node:crypto computation: %s", (_name, prev, columns) => {
    expect(eventHash(prev, columns)).toBe(independentHash(prev, columns));
  });

  test("ignores object key order of the columns given", () => {
    const reordered = Object.fromEntries(Object.entries(COLUMNS).reverse()) as unknown as HashedColumns;
    expect(eventHash(GENESIS_HASH, reordered)).toBe(eventHash(GENESIS_HASH, COLUMNS));
  });

  const changes: [keyof HashedColumns, HashedColumns[keyof HashedColumns]][] = [
    ["position", 2],
    ["event_id", "01JTESTEVENT00000000000001"],
    ["stream_id", "OPP-20260401-002"],
    ["version", 2],
    ["type", "OpportunityCreated"],
    ["schema_version", 2],
    ["data", '{"changes":{"stage":"lost"},"previous":{"stage":"bidding"}}'],
    ["metadata", '{"actor":"bidding","requestId":"req-1"}'],
    ["recorded_at", "2026-04-30T02:20:30.001Z"],
  ];
  test.each(changes)("changes when column %s changes", (column, value) => {
    const altered = { ...COLUMNS, [column]: value } as HashedColumns;
    expect(eventHash(GENESIS_HASH, altered)).not.toBe(eventHash(GENESIS_HASH, COLUMNS));
  });

  test("changes when prev_hash changes", () => {
    expect(eventHash("1".repeat(64), COLUMNS)).not.toBe(eventHash(GENESIS_HASH, COLUMNS));
  });

  test("data whitespace matters: the hash covers the exact stored text", () => {
    const spaced = { ...COLUMNS, data: '{"changes": {"stage":"won"},"previous":{"stage":"bidding"}}' };
    expect(eventHash(GENESIS_HASH, spaced)).not.toBe(eventHash(GENESIS_HASH, COLUMNS));
  });
});

describe("hashedColumnsJson", () => {
  test("is exactly canonicalJson of the hashed columns, whatever the strings hold", () => {
    const columns = {
      position: 12,
      event_id: "01M8HQX3JCTCQFKTC9M9AH1ZGC",
      stream_id: 'OPP-"引号"\\\n\u2028',
      version: 3,
      type: "OpportunityUpdated",
      schema_version: 1,
      data: '{"changes":{"description":"a\\"b"},"previous":{"description":null}}',
      metadata: '{"actor":"oms","requestId":"r-1"}',
      recorded_at: "2026-04-30T02:20:30.123Z",
    };
    expect(hashedColumnsJson(columns)).toBe(canonicalJson(columns));
  });
});
