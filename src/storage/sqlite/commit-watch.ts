import { Database } from "bun:sqlite";

/**
 * How often another connection's commits are looked for. Well inside the live stream's promise (an event on
 * every open stream within 200 ms of its commit), and a look costs a few microseconds: it reads the WAL index in
 * shared memory, not a page of the database.
 */
export const SQLITE_COMMIT_POLL_MS = 50;

/**
 * Watches a SQLite file for commits by any connection, in this process or another (an `import` beside the
 * service). SQLite has no notification across connections or processes, so this polls `PRAGMA data_version`,
 * which changes whenever another connection has committed. A connection's own commits never change it, so the
 * watcher has a connection of its own: the service's other connections both write (the writer thread, and the
 * HTTP thread for a request that comes alone).
 */
export async function watchCommits(path: string, onCommit: () => void, pollMs = SQLITE_COMMIT_POLL_MS): Promise<() => Promise<void>> {
  const timers = (tick: () => void) => {
    const timer = setInterval(tick, pollMs);
    timer.unref();
    return timer;
  };
  let db: Database;
  try {
    db = new Database(path, { readonly: true, strict: true });
  } catch {
    // No connection of its own (an in-memory database, a file it may not open): the caller looks at every tick.
    onCommit();
    const timer = timers(onCommit);
    return async () => clearInterval(timer);
  }
  const query = db.query<{ data_version: number }, []>("PRAGMA data_version");
  // -1: not known; the first look, and the first after a failed one, reports a change (commits may have been missed).
  let seen = -1;
  const look = () => {
    let version: number;
    try {
      version = query.get()!.data_version;
    } catch {
      // Busy for a moment (a checkpoint, a recovery): look again at the next tick.
      seen = -1;
      return;
    }
    if (version === seen) return;
    seen = version;
    onCommit();
  };
  look();
  const timer = timers(look);
  return async () => {
    clearInterval(timer);
    query.finalize();
    db.close();
  };
}
