import { afterEach, describe, expect, test } from "bun:test";
import { createBody, createCommand, eventRows, META, opportunityRows, Resources, SteppingClock, updateCommand } from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

async function seeded() {
  const service = resources.service({ now: new SteppingClock().now });
  const created = await service.writer.execute(
    createCommand(createBody("NOOP", { stage: "won", confidencePct: "A", amount: 12.5, description: "d", archived: true })),
    META,
  );
  expect(created).toMatchObject({ ok: true, id: 1, appended: 1 });
  return service;
}

describe("commands that append nothing", () => {
  test("an update to the current values appends nothing and leaves version and updated_at unchanged", async () => {
    const { db, writer, opportunities } = await seeded();
    const eventsBefore = eventRows(db);
    const rowsBefore = opportunityRows(db);
    const result = await writer.execute(
      updateCommand({
        opportunityCode: " NOOP ",
        stage: "赢单", // the label of the stored code "won"
        confidencePct: "a", // upper-cased to the stored "A"
        amount: 12.5,
        description: "  d  ",
        archived: true,
        projectLocation: "", // clearing a field that has no value
        operatorName: null, // null means "not sent"
      }),
      META,
    );
    expect(result).toEqual({ ok: true, id: 1, version: 1, events: [] });
    expect("appended" in result).toBe(false);
    expect(eventRows(db)).toEqual(eventsBefore);
    expect(opportunityRows(db)).toEqual(rowsBefore);
    expect(opportunities.find("NOOP")).toMatchObject({ version: 1, updatedAt: eventsBefore[0]!.recorded_at });
  });

  test("an update to an unknown code is rejected and appends nothing", async () => {
    const { db, writer } = await seeded();
    const eventsBefore = eventRows(db);
    const result = await writer.execute(updateCommand({ opportunityCode: "MISSING", amount: 1 }), META);
    expect(result).toEqual({ ok: false, reason: "not_found", message: "商机不存在" });
    expect(eventRows(db)).toEqual(eventsBefore);
    expect(opportunityRows(db).map((r) => r.code)).toEqual(["NOOP"]);
  });

  test("a duplicate create is rejected, appends nothing and does not overwrite the opportunity", async () => {
    const { db, writer, opportunities } = await seeded();
    const eventsBefore = eventRows(db);
    const rowsBefore = opportunityRows(db);
    const result = await writer.execute(createCommand(createBody("NOOP", { opportunityName: "Other", amount: 99 })), META);
    expect(result).toEqual({ ok: false, reason: "already_exists", message: "商机编号已存在: NOOP" });
    expect(eventRows(db)).toEqual(eventsBefore);
    expect(opportunityRows(db)).toEqual(rowsBefore);
    expect(opportunities.find("NOOP")).toMatchObject({ opportunityName: "Name of NOOP", amount: 12.5 });
  });

  test("in a batch, rejected and no-op commands append nothing while the others are appended gap-free", async () => {
    const { db, writer, store } = await seeded();
    const results = await writer.executeMany([
      { command: updateCommand({ opportunityCode: "NOOP", amount: 12.5 }), metadata: META },
      { command: updateCommand({ opportunityCode: "GHOST", amount: 1 }), metadata: META },
      { command: createCommand(createBody("NEW")), metadata: META },
      { command: createCommand(createBody("NEW")), metadata: META },
      { command: updateCommand({ opportunityCode: "NEW", amount: 3 }), metadata: META },
    ]);
    expect(results.map((r) => (r.ok ? `ok:${r.id}:${r.appended ?? 0}` : r.reason))).toEqual([
      "ok:1:0",
      "not_found",
      "ok:2:1",
      "already_exists",
      "ok:2:1",
    ]);
    expect(eventRows(db).map((r) => [r.position, r.stream_id, r.version])).toEqual([
      [1, "NOOP", 1],
      [2, "NEW", 1],
      [3, "NEW", 2],
    ]);
    expect(store.head()?.position).toBe(3);
  });
});
