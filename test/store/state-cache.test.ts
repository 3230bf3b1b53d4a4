/**
 * The writer's cache of opportunity states between batches (src/storage/sqlite/state-cache.ts): kept across the
 * connection's own commits, dropped when another connection commits, bounded. The two-writers suite shows the
 * decisions staying right when connections interleave; here, the cache's own rules.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import type { Opportunity } from "../../projections/opportunity-state";
import { StateCache } from "../../src/storage/sqlite/state-cache";
import { createBody, createCommand, META, Resources, updateCommand } from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

const state = (code: string, id: number) => ({ opportunityCode: code, id, version: 1 }) as Opportunity;

describe("StateCache", () => {
  test("keeps what was read and committed while only its own connection writes; forgets all when another commits", () => {
    const path = join(resources.tempDir(), "cache.db");
    const own = new Database(path);
    const other = new Database(path);
    resources.onDispose(() => (own.close(), other.close()));
    own.run("CREATE TABLE t (x)");
    const cache = new StateCache(own);
    cache.revalidate();
    cache.noteRead("A", state("A", 1));
    cache.noteRead("NONE", null);
    let reads = 0;
    expect(cache.largest(() => (reads += 1, 7))).toBe(7);
    own.run("INSERT INTO t VALUES (1)");
    cache.noteCommitted([state("B", 9)]);
    cache.revalidate();
    expect(cache.state("A")).toEqual(state("A", 1));
    expect(cache.state("NONE")).toBeNull();
    expect(cache.state("B")).toEqual(state("B", 9));
    expect(cache.largest(() => (reads += 1, 0))).toBe(9);
    expect(reads).toBe(1);

    other.run("INSERT INTO t VALUES (2)");
    cache.revalidate();
    expect(cache.state("A")).toBeUndefined();
    expect(cache.state("B")).toBeUndefined();
    expect(cache.largest(() => (reads += 1, 11))).toBe(11);
    expect(reads).toBe(2);
    cache.finalize();
  });

  test("holds at most its limit, forgetting the least recently used first", () => {
    const db = new Database(":memory:");
    resources.onDispose(() => db.close());
    const cache = new StateCache(db, 2);
    cache.revalidate();
    cache.noteRead("A", state("A", 1));
    cache.noteRead("B", state("B", 2));
    expect(cache.state("A")).toBeDefined();
    cache.noteRead("C", state("C", 3));
    expect(cache.state("B")).toBeUndefined();
    expect(cache.state("A")).toBeDefined();
    expect(cache.state("C")).toBeDefined();
    cache.finalize();
  });

  test("a batch decided from the cache after another connection changed the row is decided against the new row", async () => {
    const server = resources.service();
    const importer = resources.service({ path: server.path });
    await server.writer.execute(createCommand(createBody("X")), META);
    await server.writer.execute(updateCommand({ opportunityCode: "X", amount: 10 }), META);
    // The server's cache now holds X at version 2; the importer moves it on behind its back.
    expect(await importer.writer.execute(updateCommand({ opportunityCode: "X", amount: 20 }), META)).toMatchObject({ ok: true, version: 3 });
    const answer = await server.writer.execute(updateCommand({ opportunityCode: "X", amount: 30 }), META);
    expect(answer).toMatchObject({ ok: true, version: 4 });
    const events = server.store.readStream("X");
    expect(events.map((event) => event.version)).toEqual([1, 2, 3, 4]);
    expect((events[3]!.data as { previous: { amount: number } }).previous.amount).toBe(20);
  });
});
