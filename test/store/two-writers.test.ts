import { afterEach, describe, expect, test } from "bun:test";
import { rebuildOpportunities } from "../../src/storage/sqlite/projection-rebuild";
import { startWriterProcess } from "../support/writer-process";
import { chainProblems, createBody, createCommand, eventRows, opportunityRows, Resources, SteppingClock, updateCommand } from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

const meta = (actor: string, requestId: string) => ({ actor, requestId });

describe("two stores on the same file", () => {
  test("interleaved writes from two connections keep positions gap-free, versions exact and the chain valid", async () => {
    const server = resources.service({ now: new SteppingClock().now });
    const importer = resources.service({ path: server.path, now: new SteppingClock(Date.UTC(2026, 5, 1), 3).now });

    expect(await server.writer.execute(createCommand(createBody("X")), meta("oms", "1"))).toMatchObject({ ok: true, id: 1, appended: 1 });
    expect(await importer.writer.execute(createCommand(createBody("Y")), meta("import", "2"))).toMatchObject({ ok: true, id: 2, appended: 1 });
    // Each side sees the other's commits: ids, duplicates and versions are decided against the shared state.
    expect(await importer.writer.execute(createCommand(createBody("X")), meta("import", "3"))).toMatchObject({ ok: false, reason: "already_exists" });
    expect(await importer.writer.execute(updateCommand({ opportunityCode: "X", amount: 1 }), meta("import", "4"))).toMatchObject({ ok: true, id: 1, appended: 1 });
    expect(await server.writer.execute(updateCommand({ opportunityCode: "X", amount: 2 }), meta("oms", "5"))).toMatchObject({ ok: true, id: 1, appended: 1 });
    expect(await server.writer.execute(updateCommand({ opportunityCode: "Y", stage: "lead" }), meta("oms", "6"))).toMatchObject({ ok: true, id: 2, appended: 1 });
    await importer.writer.executeMany([
      { command: createCommand(createBody("Z")), metadata: meta("import", "7") },
      { command: updateCommand({ opportunityCode: "X", amount: 3 }), metadata: meta("import", "8") },
    ]);
    expect(await server.writer.execute(updateCommand({ opportunityCode: "Z", amount: 4 }), meta("oms", "9"))).toMatchObject({ ok: true, id: 3, appended: 1 });

    const rows = eventRows(server.db);
    expect(rows.map((r) => [r.position, r.stream_id, r.version, JSON.parse(r.metadata).requestId])).toEqual([
      [1, "X", 1, "1"],
      [2, "Y", 1, "2"],
      [3, "X", 2, "4"],
      [4, "X", 3, "5"],
      [5, "Y", 2, "6"],
      [6, "Z", 1, "7"],
      [7, "X", 4, "8"],
      [8, "Z", 2, "9"],
    ]);
    expect(chainProblems(rows)).toEqual([]);
    expect(eventRows(importer.db)).toEqual(rows);
    expect(server.opportunities.find("X")).toMatchObject({ amount: 3, version: 4 });
    expect(importer.opportunities.find("Z")).toMatchObject({ amount: 4, version: 2, id: 3 });
    expect(server.store.head()).toEqual(importer.store.head());

    const live = opportunityRows(server.db);
    rebuildOpportunities(importer.db);
    expect(opportunityRows(server.db)).toEqual(live);
  });

  test("a second process writing at the same time as this one: no gaps, no lost update, valid chain", async () => {
    const server = resources.service();
    await server.writer.execute(createCommand(createBody("SHARED")), meta("oms", "seed"));
    const perWriter = 40;

    const child = await startWriterProcess(server.path, { prefix: "child", count: perWriter, sharedCode: "SHARED" });
    resources.onDispose(child.kill);
    child.go();

    for (let i = 1; i <= perWriter; i++) {
      const created = await server.writer.execute(createCommand(createBody(`parent-${i}`)), meta("parent", `parent-${i}`));
      const updated = await server.writer.execute(updateCommand({ opportunityCode: "SHARED", description: `parent-${i}` }), meta("parent", `parent-${i}`));
      expect([created.ok, updated.ok && updated.appended]).toEqual([true, 1]);
      await Bun.sleep(1);
    }
    expect(await child.finished()).toEqual({ exitCode: 0, stdout: "ready\ndone\n", stderr: "" });

    const rows = eventRows(server.db);
    const total = 1 + 4 * perWriter;
    expect(rows.map((r) => r.position)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(chainProblems(rows)).toEqual([]);
    // Every update of SHARED from either process was appended: versions 1..(1 + 2 * perWriter), none lost.
    expect(rows.filter((r) => r.stream_id === "SHARED").map((r) => r.version)).toEqual(Array.from({ length: 1 + 2 * perWriter }, (_, i) => i + 1));
    // The two processes really interleaved (more than one switch between writers in position order).
    const actors = rows.slice(1).map((r) => JSON.parse(r.metadata).actor as string);
    const switches = actors.filter((actor, i) => i > 0 && actor !== actors[i - 1]).length;
    expect(switches).toBeGreaterThan(1);

    // Ids were handed out once each across both processes, and the projection equals a rebuild.
    const ids = opportunityRows(server.db).map((r) => Number(r.id));
    expect(ids).toEqual(Array.from({ length: 1 + 2 * perWriter }, (_, i) => i + 1));
    expect(server.opportunities.find("SHARED")).toMatchObject({ version: 1 + 2 * perWriter });
    const live = opportunityRows(server.db);
    rebuildOpportunities(server.db);
    expect(opportunityRows(server.db)).toEqual(live);
  });
});
