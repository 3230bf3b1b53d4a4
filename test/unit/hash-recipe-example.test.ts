import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { appendToChain } from "../../events/append";
import { canonicalJson } from "../../events/canonical-json";
import { eventColumnsProblem, eventDataProblem } from "../../events/event-data-check";
import { eventHash, GENESIS_HASH, hashedColumnsJson } from "../../events/hash-chain";
import { OPPORTUNITY_CREATED, SCHEMA_VERSIONS } from "../../events/opportunity-events";
import { DEFAULT_FORM_EXAMPLE, eventFeedDocs, HASH_EXAMPLE_ROW } from "../../src/http/openapi-events";

// The hash recipe's worked example, as published in the README ("Recomputing the chain without the binary")
// and in the feed's OpenAPI text: read from the README's own text and recomputed, so neither can drift from
// what the service computes, nor from each other.

const README = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");
const HEADING = "### Recomputing the chain without the binary";

function recipeSection(): string {
  const start = README.indexOf(HEADING);
  expect(start).toBeGreaterThan(0);
  const end = README.indexOf("\n## ", start);
  return README.slice(start, end === -1 ? undefined : end);
}

/** The body of the first fenced block of `language` in the section. */
function fenced(section: string, language: string): string {
  const match = new RegExp("```" + language + "\\n([\\s\\S]*?)\\n```").exec(section);
  expect(match).not.toBeNull();
  return match![1]!;
}

const section = recipeSection();
const readmeRow = JSON.parse(fenced(section, "json")) as typeof HASH_EXAMPLE_ROW;
const readmeInput = fenced(section, "text");
const readmeHash = /Its hash: `([0-9a-f]{64})`/.exec(section)?.[1];

describe("the README's worked example", () => {
  test("states a hash, the row and the input hashed", () => {
    expect(readmeHash).toMatch(/^[0-9a-f]{64}$/);
    expect(readmeRow.hash).toBe(readmeHash!);
    expect(readmeInput.split("\n").length).toBe(2);
  });

  test("the input's SHA-256 (UTF-8) is the stated hash, computed without the service's code", () => {
    expect(createHash("sha256").update(readmeInput, "utf8").digest("hex")).toBe(readmeHash!);
  });

  test("the input is exactly what the service hashes for that row", () => {
    const [prevHash, json] = readmeInput.split("\n");
    expect(prevHash).toBe(GENESIS_HASH);
    expect(readmeRow.prev_hash).toBe(GENESIS_HASH);
    expect(json).toBe(hashedColumnsJson(readmeRow));
    expect(eventHash(readmeRow.prev_hash, readmeRow)).toBe(readmeHash!);
  });

  test("the row is the one the service appends for that event, and passes verify's column checks", () => {
    const data = {
      id: 1,
      opportunityCode: "OPP-20260401-001",
      endCustomerName: "某市公安局",
      opportunityName: "智慧园区安防项目",
      stage: "lead",
      amount: 2800000,
      salesExpansionId: 9007199254740993n,
    };
    const metadata = JSON.parse(readmeRow.metadata) as { actor: string; requestId: string };
    const { rows } = appendToChain({ position: 0, hash: GENESIS_HASH }, readmeRow.stream_id, 0, [{ type: OPPORTUNITY_CREATED, data }], metadata, readmeRow.recorded_at, {
      nextEventId: () => readmeRow.event_id,
      schemaVersionOf: (type) => SCHEMA_VERSIONS[type as keyof typeof SCHEMA_VERSIONS],
    });
    expect(rows).toEqual([readmeRow]);
    expect(eventDataProblem(readmeRow.type, readmeRow.stream_id, data)).toBeNull();
    expect(eventColumnsProblem(readmeRow, metadata)).toBeNull();
  });

  test("holds an ID beyond 2^53 in data, the case a parse-and-rewrite verifier gets wrong", () => {
    expect(readmeRow.data).toContain('"salesExpansionId":9007199254740993');
    const rewritten = { ...readmeRow, data: JSON.stringify(JSON.parse(readmeRow.data)) };
    expect(rewritten.data).not.toBe(readmeRow.data);
    expect(eventHash(GENESIS_HASH, rewritten)).not.toBe(readmeHash!);
  });
});

describe("the OpenAPI text of the feed", () => {
  const docs = eventFeedDocs() as { description: string };

  test("its stored example is the README's row, and its description states the same hash", () => {
    expect(HASH_EXAMPLE_ROW).toEqual(readmeRow);
    expect(docs.description).toContain(readmeHash!);
  });

  test("names the hashed columns in the README's key order and the separator", () => {
    expect(docs.description).toContain("data、event_id、metadata、position、recorded_at、schema_version、stream_id、type、version");
    expect(section).toContain("`data`, `event_id`, `metadata`, `position`,\n   `recorded_at`, `schema_version`, `stream_id`, `type`, `version`");
    expect(docs.description).toContain("64 个 0");
    expect(docs.description).toContain("UTF-8");
  });

  test("its default-form example is the next event of the same chain, with a hash that recomputes", () => {
    const event = DEFAULT_FORM_EXAMPLE;
    expect(event.prevHash).toBe(readmeHash!);
    const row = {
      position: event.position,
      event_id: event.eventId,
      stream_id: event.streamId,
      version: event.version,
      type: event.type,
      schema_version: event.schemaVersion,
      data: canonicalJson(event.data),
      metadata: canonicalJson(event.metadata),
      recorded_at: event.recordedAt,
    };
    expect(eventHash(event.prevHash, row)).toBe(event.hash);
    expect(eventDataProblem(event.type, event.streamId, event.data)).toBeNull();
    expect(eventColumnsProblem({ ...row, prev_hash: event.prevHash, hash: event.hash }, event.metadata)).toBeNull();
  });
});
