import { describe, expect, test } from "bun:test";
import type { IdempotencyClaim } from "../../src/idempotency";
import type { BatchItem } from "../../src/write/batch-update";
import { META, createCommand, updateCommand } from "../reliability/reliability-support";
import { backendsPerTest, verifyBackend, type TestBackend } from "../support/test-backend";

// The Idempotency-Key of a batch update stores the whole batch answer, its proof naming no stream. verify holds
// it against the events like every stored answer: the answers the service writes check out on either backend,
// and an answer edited behind the service's back (a retry would be served it as the truth) is found.

const backends = backendsPerTest();
const claim = (key: string): IdempotencyClaim => ({ client: "oms", key, fingerprint: `fp-${key}` });
const item = (code: string, fields: Record<string, unknown>): BatchItem => ({ command: updateCommand(code, fields) });

/** A store with keyed batches of every kind: mixed outcomes, the same code twice, one stopped by allOrNone. */
async function storeWithBatches(): Promise<TestBackend> {
  const backend = await backends.open();
  const { writer } = backend;
  await writer.execute(createCommand("B-1", { amount: 1 }), META);
  await writer.execute(createCommand("B-2"), META);
  const mixed = await writer.executeBatch(
    { items: [item("B-1", { amount: 2 }), item("GHOST", { amount: 1 }), item("B-1", { amount: 2 }), { invalid: "至少传入一个需要更新的字段", opportunityCode: "B-2" }, item("B-2", { amount: 3 })], allOrNone: false },
    META,
    claim("mixed"),
  );
  expect(mixed).toMatchObject({ ok: true, appended: 2 });
  await writer.execute(updateCommand("B-1", { amount: 9 }), META);
  const stopped = await writer.executeBatch({ items: [item("B-2", { amount: 4 }), item("GHOST", { amount: 1 })], allOrNone: true }, META, claim("stopped"));
  expect(stopped).toMatchObject({ ok: true, batch: { failedIndex: 1 } });
  // Two batches in one group commit, the second behind a single write of another client.
  await Promise.all([
    writer.executeBatch({ items: [item("B-1", { amount: 10 }), item("B-1", { amount: 11 })], allOrNone: true }, META, claim("twice")),
    writer.execute(updateCommand("B-2", { amount: 12 }), { ...META, actor: "bidding" }),
    writer.executeBatch({ items: [item("B-2", { description: "组内" })], allOrNone: false }, META, claim("after")),
  ]);
  expect(await writer.executeBatch({ items: [item("B-1", { amount: 2 })], allOrNone: false }, META, claim("mixed"))).toMatchObject({ replayed: true });
  return backend;
}

const outcomeOf = async (backend: TestBackend, key: string) =>
  JSON.parse((await backend.tables.select<{ outcome: string }>("SELECT outcome FROM idempotency_keys WHERE client = 'oms' AND key = ?", [key]))[0]!.outcome);

async function rewrite(backend: TestBackend, key: string, edit: (outcome: any) => void): Promise<void> {
  const outcome = await outcomeOf(backend, key);
  edit(outcome);
  await backend.tables.run("UPDATE idempotency_keys SET outcome = ? WHERE client = 'oms' AND key = ?", [JSON.stringify(outcome), key]);
}

/** The findings verify reports, as their reasons. */
async function findings(backend: TestBackend): Promise<string[]> {
  const report = await verifyBackend(backend);
  return report.findings.map((finding) => finding.reason);
}

describe("batch answers the service stored", () => {
  test("check out against the events: mixed, stopped by allOrNone, two in one group commit, replayed", async () => {
    const backend = await storeWithBatches();
    expect(await verifyBackend(backend)).toMatchObject({ ok: true, findings: [] });
    expect((await backend.tables.select<{ stream_id: string | null }>("SELECT stream_id FROM idempotency_keys")).map((row) => row.stream_id)).toEqual([null, null, null, null]);
  });
});

describe("a batch answer edited behind the service's back is found", () => {
  test.each([
    ["an item's version", "mixed", (o: any) => (o.batch.items[0].result.version = 5), 'item 0 ("B-1"): the answer says version 5, but at position 3 the events have it at version 2'],
    ["an item's id", "twice", (o: any) => (o.batch.items[1].result.id = 2), 'item 1 ("B-1"): the answer says id 2, but the events created it with id 1'],
    ["a refusal turned success", "mixed", (o: any) => (o.batch.items[1] = { ...o.batch.items[1], result: { ok: true, id: 424242, version: 1 } }), 'item 1 ("GHOST"): the answer says version 1, but at position 3 the events have it at version 0'],
    ["a success turned 商机不存在", "after", (o: any) => (o.batch.items[0] = { ...o.batch.items[0], appended: 0, result: { ok: false, reason: "not_found", message: "商机不存在" } }), "the batch answer's items appended 0 event(s), but the proof says 1"],
    ["a stopped batch's item said to succeed", "stopped", (o: any) => (o.batch.items[0] = { ...o.batch.items[0], appended: 1, result: { ok: true, id: 2, version: 2 } }), "the batch answer's items appended 1 event(s), but the proof says 0"],
    ["an item that is no item", "mixed", (o: any) => (o.batch.items[2] = { index: 2 }), "the stored batch answer is malformed"],
  ])("%s", async (_label, key, edit, reason) => {
    const backend = await storeWithBatches();
    await rewrite(backend, key, edit);
    const found = await findings(backend);
    expect(found).toHaveLength(1);
    expect(found[0]).toStartWith(`client "oms" key "${key}": ${reason}`);
  });

  test("a proof naming a stream for a batch answer, or none for a single one", async () => {
    const backend = await storeWithBatches();
    await backend.writer.execute(updateCommand("B-1", { amount: 77 }), META, claim("single"));
    await backend.tables.run("UPDATE idempotency_keys SET stream_id = 'B-1' WHERE key = 'mixed'");
    await backend.tables.run("UPDATE idempotency_keys SET stream_id = NULL WHERE key = 'single'");
    expect((await findings(backend)).sort()).toEqual([
      'client "oms" key "mixed": the stored batch answer names a stream in its proof',
      'client "oms" key "single": the proof names no stream for an answer that is not a batch',
    ]);
  });
});
