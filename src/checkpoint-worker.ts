/**
 * The checkpointer thread: copies what the WAL holds back into the database file, so that the thread that
 * commits does not. SQLite checkpoints on the committing connection by default, every 1,000 WAL pages: under
 * group commit that was about 15 times a second, each one stalling the writer thread for its page copies and
 * two fsyncs, and copying the same busy pages (projection rows, index leaves) again each time. Here a PASSIVE
 * checkpoint runs on a connection of its own every CHECKPOINT_INTERVAL_MS: it never waits for the writer or a
 * reader, and the writer goes on appending meanwhile. What starts the WAL over is the writer's own checkpoint,
 * now only a safety net at WRITER_CHECKPOINT_PAGES (storage/sqlite/wal-checkpoints.ts), which then finds
 * nearly everything already copied.
 */
import type { Database } from "bun:sqlite";
import { openDatabase } from "./storage/sqlite/database";
import type { CheckpointerMessage, CheckpointerRequest } from "./storage/sqlite/wal-checkpoints";

declare const self: Worker;
const post = (message: CheckpointerMessage) => self.postMessage(message);

let db: Database | undefined;
let timer: ReturnType<typeof setInterval> | undefined;
/** Whether the last checkpoint failed: a failure is told once, and again only after one has succeeded. */
let failing = false;
/** What the last checkpoint reported: a quiet WAL reports the same each time, and that is not told again. */
let last = { log: 0, checkpointed: 0 };

function checkpoint(): void {
  try {
    const result = db!.query<{ busy: number; log: number; checkpointed: number }, []>("PRAGMA wal_checkpoint(PASSIVE)").get();
    if (failing) post({ kind: "recovered" });
    failing = false;
    if (!result || result.checkpointed <= 0 || (result.log === last.log && result.checkpointed === last.checkpointed)) return;
    last = result;
    post({ kind: "checkpointed", frames: result.checkpointed, walFrames: result.log });
  } catch (error) {
    if (!failing) post({ kind: "failed", message: (error as Error).message });
    failing = true;
  }
}

self.onmessage = (event: MessageEvent<CheckpointerRequest>) => {
  const request = event.data;
  if (request.kind === "start") {
    try {
      db = openDatabase(request.path);
      // This connection never commits; a checkpoint of its own at a commit would be the writer's again.
      db.run("PRAGMA wal_autocheckpoint = 0");
      timer = setInterval(checkpoint, request.intervalMs);
      post({ kind: "started" });
    } catch (error) {
      post({ kind: "failed", message: (error as Error).message });
      post({ kind: "stopped" });
    }
    return;
  }
  clearInterval(timer);
  timer = undefined;
  try {
    db?.close();
  } finally {
    db = undefined;
    post({ kind: "stopped" });
  }
};
