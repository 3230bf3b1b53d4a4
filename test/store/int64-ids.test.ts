import { afterEach, describe, expect, test } from "bun:test";
import { parseExactJson } from "../../events/exact-json";
import { rebuildOpportunities } from "../../src/storage/sqlite/projection-rebuild";
import { createBody, createCommand, eventRows, META, Resources, SteppingClock, updateCommand } from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

const INT64_MAX = 9223372036854775807n;

function salesIdColumn(db: ReturnType<Resources["service"]>["db"], code: string): unknown {
  return db.prepare<{ v: unknown }, [string]>("SELECT sales_expansion_id AS v FROM opportunities WHERE code = ?").safeIntegers(true).get(code)!.v;
}

describe("64-bit IDs", () => {
  test("salesExpansionId = 2^63-1 round-trips exactly through the event data and the projection", async () => {
    const { db, store, writer, opportunities } = resources.service({ now: new SteppingClock().now });
    await writer.execute(createCommand(createBody("BIG", { salesExpansionId: 42 })), META);
    const result = await writer.execute(updateCommand({ opportunityCode: "BIG", salesExpansionId: INT64_MAX }), META);
    expect(result).toMatchObject({ ok: true, id: 1, appended: 1 });

    // Event data: the exact digits in the stored text, a bigint when read back.
    const row = eventRows(db)[1]!;
    expect(row.data).toBe('{"changes":{"salesExpansionId":9223372036854775807},"previous":{"salesExpansionId":42}}');
    const [, updated] = store.readStream("BIG");
    expect(updated!.data).toEqual({ changes: { salesExpansionId: INT64_MAX }, previous: { salesExpansionId: 42 } });
    expect((updated!.data as { changes: { salesExpansionId: unknown } }).changes.salesExpansionId).toBe(INT64_MAX);

    // Projection: the SQLite INTEGER holds it, and find() returns the bigint.
    expect(salesIdColumn(db, "BIG")).toBe(INT64_MAX);
    const found = opportunities.find("BIG")!;
    expect(typeof found.salesExpansionId).toBe("bigint");
    expect(found.salesExpansionId).toBe(INT64_MAX);

    // Setting the same value again compares equal: nothing is appended.
    const again = await writer.execute(updateCommand({ opportunityCode: "BIG", salesExpansionId: INT64_MAX }), META);
    expect(again).toEqual({ ok: true, id: 1, version: 2, events: [] });
    expect(store.head()?.position).toBe(2);

    // A rebuild from the events alone gives the same exact value.
    rebuildOpportunities(db);
    expect(opportunities.find("BIG")!.salesExpansionId).toBe(INT64_MAX);
    expect(salesIdColumn(db, "BIG")).toBe(INT64_MAX);
  });

  test("an ID parsed from JSON text keeps every digit end to end", async () => {
    const { db, writer, opportunities } = resources.service({ now: new SteppingClock().now });
    await writer.execute(createCommand(createBody("TXT")), META);
    const body = parseExactJson('{"opportunityCode":"TXT","preSalesId":9223372036854775806,"channelExpansionId":9007199254740993}') as Record<string, unknown>;
    await writer.execute(updateCommand(body), META);
    expect(eventRows(db)[1]!.data).toBe('{"changes":{"channelExpansionId":9007199254740993,"preSalesId":9223372036854775806},"previous":{"channelExpansionId":null,"preSalesId":null}}');
    const found = opportunities.find("TXT")!;
    expect(found.preSalesId).toBe(9223372036854775806n);
    // 2^53 + 1 is not a safe double: it must stay a bigint, not become 9007199254740992.
    expect(found.channelExpansionId).toBe(9007199254740993n);
  });

  test("safe IDs come back as numbers, however they were given", async () => {
    const { store, writer, opportunities } = resources.service({ now: new SteppingClock().now });
    await writer.execute(createCommand(createBody("SAFE", { salesExpansionId: 7n, channelExpansionId: Number.MAX_SAFE_INTEGER, preSalesId: "123" })), META);
    const found = opportunities.find("SAFE")!;
    expect(found.salesExpansionId).toBe(7);
    expect(typeof found.salesExpansionId).toBe("number");
    expect(found.channelExpansionId).toBe(9007199254740991);
    expect(typeof found.channelExpansionId).toBe("number");
    expect(found.preSalesId).toBe(123);
    expect(found.id).toBe(1);
    expect(typeof found.id).toBe("number");
    expect(typeof found.version).toBe("number");
    const data = store.readStream("SAFE")[0]!.data as Record<string, unknown>;
    expect([data.salesExpansionId, data.channelExpansionId, data.preSalesId]).toEqual([7, 9007199254740991, 123]);

    // Going from a bigint back to a safe number is a real change, and the number comes back as a number.
    await writer.execute(updateCommand({ opportunityCode: "SAFE", salesExpansionId: INT64_MAX }), META);
    await writer.execute(updateCommand({ opportunityCode: "SAFE", salesExpansionId: 8 }), META);
    expect(opportunities.find("SAFE")!.salesExpansionId).toBe(8);
    expect(store.readStream("SAFE").at(-1)!.data).toEqual({ changes: { salesExpansionId: 8 }, previous: { salesExpansionId: INT64_MAX } });
  });
});
