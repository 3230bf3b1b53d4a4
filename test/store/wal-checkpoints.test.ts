import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openServiceStore } from "../../src/service-store";
import { WalCheckpointer, WRITER_CHECKPOINT_PAGES } from "../../src/storage/sqlite/wal-checkpoints";
import { ImmutableFiles, immutableIsEnforced } from "../support/immutable-files";
import { waitFor } from "../support/wait-for";
import { walIndex } from "../support/wal-index";
import { createBody, createCommand, META, Resources, updateCommand } from "./store-fixture";

const resources = new Resources();
const checkpointers: WalCheckpointer[] = [];
const immutableFiles = new ImmutableFiles();
afterAll(() => immutableFiles.clearAll());
const immutable = immutableIsEnforced();
if (!immutable.ok) console.warn(`SKIPPING the checkpoint-failure test: ${immutable.why}`);
afterEach(async () => {
  await Promise.all(checkpointers.splice(0).map((checkpointer) => checkpointer.stop()));
  resources.disposeAll();
});

/** A service store whose own connection never checkpoints: every copy of the WAL is someone else's. */
async function storeWithWrites(updates: number) {
  const service = resources.service();
  service.db.run("PRAGMA wal_autocheckpoint = 0");
  await service.writer.execute(createCommand(createBody("WAL-1")), META);
  for (let n = 1; n <= updates; n++) await service.writer.execute(updateCommand({ opportunityCode: "WAL-1", amount: n }), META);
  return service;
}

describe("the checkpointer thread", () => {
  test("copies the WAL back while the committing connection never checkpoints, so the WAL starts over at the next commit", async () => {
    const service = await storeWithWrites(40);
    const grown = walIndex(service.path);
    expect(grown.frames).toBeGreaterThan(40);
    expect(grown.copied).toBe(0);

    const checkpointer = await WalCheckpointer.start(service.path, {}, 10);
    checkpointers.push(checkpointer);
    await waitFor(() => walIndex(service.path).copied === grown.frames, "a checkpoint of the whole WAL");
    await waitFor(() => checkpointer.last !== null, "the thread's report of it");
    expect(checkpointer.last).toEqual({ frames: grown.frames, walFrames: grown.frames });
    await service.writer.execute(updateCommand({ opportunityCode: "WAL-1", amount: 1_000 }), META);
    expect(walIndex(service.path).frames).toBeLessThan(grown.frames);
    expect(service.opportunities.find("WAL-1")?.amount).toBe(1_000);
  });

  test("without it, the same commits leave the WAL growing (what the test above depends on)", async () => {
    const service = await storeWithWrites(40);
    const grown = walIndex(service.path);
    await Bun.sleep(50);
    await service.writer.execute(updateCommand({ opportunityCode: "WAL-1", amount: 1_000 }), META);
    expect(walIndex(service.path)).toEqual({ frames: expect.any(Number), copied: 0 });
    expect(walIndex(service.path).frames).toBeGreaterThan(grown.frames);
  });

  test("a quiet WAL is not reported again and again; stopping it lets the closing TRUNCATE checkpoint run", async () => {
    const service = await storeWithWrites(5);
    const checkpointer = await WalCheckpointer.start(service.path, {}, 5);
    expect(checkpointer.up).toBe(true);
    await waitFor(() => checkpointer.checkpoints > 0, "the first checkpoint");
    const reported = checkpointer.checkpoints;
    await Bun.sleep(100);
    expect(checkpointer.checkpoints).toBe(reported);
    await checkpointer.stop();
    expect(checkpointer.up).toBe(false);
    expect(service.close()).toEqual({ checkpointed: true });
  });

  test("a file it cannot open fails its start with SQLite's reason", async () => {
    const directory = resources.tempDir();
    await expect(WalCheckpointer.start(directory)).rejects.toThrow(/unable to open database file/);
  });

  test("a service store opened for it checkpoints its commits only past the safety net; otherwise at SQLite's 1,000 pages", () => {
    const autocheckpoint = (checkpointThread: boolean) => {
      const service = openServiceStore(join(resources.tempDir(), "opportunities.db"), { checkpointThread });
      try {
        return service.db.query<{ wal_autocheckpoint: number }, []>("PRAGMA wal_autocheckpoint").get()!.wal_autocheckpoint;
      } finally {
        service.close();
      }
    };
    expect([autocheckpoint(true), autocheckpoint(false)]).toEqual([WRITER_CHECKPOINT_PAGES, 1_000]);
  });
});

describe.skipIf(!immutable.ok)("a checkpoint that fails", () => {
  test("is told once and the checkpointer is down until one succeeds again, which is told once too", async () => {
    const service = await storeWithWrites(5);
    const told: string[] = [];
    const checkpointer = await WalCheckpointer.start(service.path, { onFailure: (reason) => told.push(`failed: ${reason}`), onRecovery: () => told.push("recovered") }, 5);
    checkpointers.push(checkpointer);
    await waitFor(() => walIndex(service.path).copied === walIndex(service.path).frames, "the first WAL copied back");
    expect(checkpointer.up).toBe(true);

    // The database file cannot be written (as on a filesystem forced read-only); the WAL still can: commits go
    // on, and copying them back into the file fails.
    immutableFiles.lock(service.path);
    await service.writer.execute(updateCommand({ opportunityCode: "WAL-1", amount: 500 }), META);
    await waitFor(() => !checkpointer.up, "the failed checkpoint");
    await Bun.sleep(50);
    expect(told).toEqual([expect.stringMatching(/^failed: disk I\/O error/)]);

    immutableFiles.unlock(service.path);
    await waitFor(() => checkpointer.up, "a checkpoint that succeeds again");
    expect(told.slice(1)).toEqual(["recovered"]);
    expect(walIndex(service.path).copied).toBe(walIndex(service.path).frames);
  });
});
