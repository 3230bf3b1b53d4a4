import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { createBody, createCommand, eventRows, META, Resources, SteppingClock, updateCommand } from "./store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

async function storeWithHistory() {
  const service = resources.service({ now: new SteppingClock().now });
  await service.writer.execute(createCommand(createBody("AO-1")), META);
  await service.writer.execute(createCommand(createBody("AO-2")), META);
  await service.writer.execute(updateCommand({ opportunityCode: "AO-1", amount: 5 }), META);
  return service;
}

describe("the events table is append-only", () => {
  test("raw UPDATE throws and changes nothing", async () => {
    const { db } = await storeWithHistory();
    const before = eventRows(db);
    expect(() => db.run("UPDATE events SET data = '{}' WHERE position = 1")).toThrow("events are append-only: UPDATE is not allowed");
    expect(() => db.run("UPDATE events SET stream_id = 'other'")).toThrow("events are append-only: UPDATE is not allowed");
    expect(eventRows(db)).toEqual(before);
  });

  test("raw DELETE throws and changes nothing", async () => {
    const { db } = await storeWithHistory();
    const before = eventRows(db);
    expect(() => db.run("DELETE FROM events WHERE position = 3")).toThrow("events are append-only: DELETE is not allowed");
    expect(() => db.run("DELETE FROM events")).toThrow("events are append-only: DELETE is not allowed");
    expect(eventRows(db)).toEqual(before);
  });

  test("the triggers also stop a connection that did not set our pragmas", async () => {
    const service = await storeWithHistory();
    const plain = new Database(service.path);
    resources.onDispose(() => plain.close());
    const before = eventRows(plain);
    expect(() => plain.run("UPDATE events SET hash = 'x'")).toThrow("append-only");
    expect(() => plain.run("DELETE FROM events WHERE position = 1")).toThrow("append-only");
    expect(eventRows(plain)).toEqual(before);
  });

  test("INSERT OR REPLACE over an existing row throws: recursive_triggers makes the implicit delete fire the trigger", async () => {
    const { db } = await storeWithHistory();
    const before = eventRows(db);
    const first = before[0]!;
    const replace = db.prepare(
      `INSERT OR REPLACE INTO events (position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at, prev_hash, hash)
       VALUES ($position, $event_id, $stream_id, $version, $type, $schema_version, $data, $metadata, $recorded_at, $prev_hash, $hash)`,
    );
    expect(() => replace.run({ ...first, data: '{"forged":true}' })).toThrow("events are append-only: DELETE is not allowed");
    expect(eventRows(db)).toEqual(before);
  });
});
