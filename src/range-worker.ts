/**
 * A thread that works on one range of streams for `rebuild` (fold) or `verify` (check), on a read-only
 * connection of its own (storage/sqlite/range-threads.ts). It answers on the port it is given, first that it
 * has started, then with the result or the error that stopped it: the thread waiting for it is blocked and
 * sees nothing else.
 */
import { checkStreamRange } from "./audit/verify-stream-range";
import { openReadOnly } from "./cli/read-only-database";
import type { RangeThreadMessage, RangeThreadRequest } from "./storage/sqlite/range-threads";
import { mapForWholeStoreRead } from "./storage/sqlite/database";
import { foldStreamRange } from "./storage/sqlite/stream-range-fold";

declare const self: Worker;

self.onmessage = (event: MessageEvent<RangeThreadRequest>) => {
  const { task, path, range, throughPosition, port } = event.data;
  const answer = (message: RangeThreadMessage) => port.postMessage(message);
  answer({ kind: "started" });
  try {
    // As the command's own connection was opened: on a read-only mount, as immutable where that is safe.
    const db = openReadOnly(path);
    try {
      mapForWholeStoreRead(db);
      const result = task === "fold" ? foldStreamRange(db, range, throughPosition) : checkStreamRange(db, range, throughPosition);
      answer({ kind: "done", result });
    } finally {
      db.close();
    }
  } catch (error) {
    answer({ kind: "failed", message: (error as Error).message });
  }
};
