/**
 * The thread of a verification job (POST /api/audit/verifications): the CLI's `verify`, run beside the service.
 * On the HTTP thread it would compete with every request for the processor: a SQLite file's check is one
 * synchronous read transaction (PRAGMA integrity_check, then every event, the projection, the idempotency
 * answers), and even PostgreSQL's, paged over a connection, hashes every event on the thread that reads it
 * (measured: a quarter of the writes' throughput left). Here it runs on a connection of its own, reading one
 * consistent snapshot while the service goes on writing, at the lowest CPU priority, so that the HTTP and
 * writer threads get the processor first.
 */
import type { Database } from "bun:sqlite";
import { setPriority } from "node:os";
import type { Head } from "../events/verify-chain";
import { verifyAuditReads, verifyStore, type VerifyReport } from "./audit/verify-store";
import { openPostgresAsIs } from "./cli/command-storage";
import { openReadOnlyDatabase } from "./cli/shared-options";

/** Where the database is: the SQLite file, or the PostgreSQL URL with its password (it never leaves the process). */
export type VerifyRequest = { kind: "sqlite"; path: string; expectHead: Head | null } | { kind: "postgres"; url: string; expectHead: Head | null };

export type VerifyWorkerMessage =
  | { kind: "total"; total: number }
  | { kind: "progress"; checked: number }
  | { kind: "done"; report: VerifyReport }
  | { kind: "error"; message: string };

declare const self: Worker;
const post = (message: VerifyWorkerMessage) => self.postMessage(message);

/** At most this often a progress message: a million events must not mean a million messages. */
const PROGRESS_INTERVAL_MS = 50;

function lowerThisThreadsPriority(): void {
  try {
    // On Linux a nice value is per thread: pid 0 here is this thread alone, the HTTP and writer threads keep theirs.
    setPriority(0, 19);
  } catch {
    // Not permitted or not supported: the check still runs, only at normal priority.
  }
}

/** How long the check works before it pauses, and how long it then pauses per millisecond worked. */
const WORK_SLICE_MS = 20;
const PAUSE_PER_WORK = 3;

/**
 * Told every few hundred events: posts the progress now and then, and paces the check. A lower priority keeps
 * this thread out of the HTTP and writer threads' way, but not the database's: PostgreSQL's backend reading the
 * events for it runs at normal priority, and on SQLite the reads compete for memory and disk. So the check
 * works a quarter of the time it runs (measured with test/bench/verify-while-writing.ts on two cores at
 * concurrency 32, PostgreSQL on the same machine: writes at 0.65 of their rate while a check worked half the
 * time, 0.81 at a quarter). It takes four times as long as `verify` does; an auditor waits, the writers do not.
 */
function progressHook(): (position: number) => void {
  let lastPost = 0;
  let sliceStart = performance.now();
  return (checked) => {
    const now = performance.now();
    if (now - sliceStart >= WORK_SLICE_MS) {
      Bun.sleepSync((now - sliceStart) * PAUSE_PER_WORK);
      sliceStart = performance.now();
    }
    if (now - lastPost < PROGRESS_INTERVAL_MS) return;
    lastPost = now;
    post({ kind: "progress", checked });
  };
}

/** The last position of the snapshot: what the walk will reach. A file without an events table has none (verify names that). */
function lastPosition(db: Database): number {
  try {
    return db.query<{ p: number }, []>("SELECT COALESCE(MAX(position), 0) AS p FROM events").get()!.p;
  } catch {
    return 0;
  }
}

/** As `verify --db FILE`: one read transaction on a read-only connection. */
function verifyFile(path: string, expectHead: Head | undefined): VerifyReport {
  const db = openReadOnlyDatabase(path);
  try {
    return db.transaction(() => {
      // Read inside the transaction: the total is that of the snapshot the check walks.
      post({ kind: "total", total: lastPosition(db) });
      return verifyStore(db, { expectHead, onProgress: progressHook() });
    })();
  } finally {
    db.close();
  }
}

/** As `verify --db postgres://…`: the storage's audit snapshot (REPEATABLE READ, READ ONLY), on a pool of its own. */
async function verifyPostgres(url: string, expectHead: Head | undefined): Promise<VerifyReport> {
  const storage = await openPostgresAsIs(url);
  try {
    return await storage.audit(async (reads) => {
      // Asked for nothing but the head: the last position of this very snapshot.
      post({ kind: "total", total: (await reads.eventFacts({ streamsAt: [], positions: [], keys: [], creations: false })).head });
      return verifyAuditReads(reads, { expectHead, onProgress: progressHook() });
    });
  } finally {
    await storage.close();
  }
}

self.onmessage = async (event: MessageEvent<VerifyRequest>) => {
  lowerThisThreadsPriority();
  const request = event.data;
  const expectHead = request.expectHead ?? undefined;
  try {
    const report = request.kind === "sqlite" ? verifyFile(request.path, expectHead) : await verifyPostgres(request.url, expectHead);
    post({ kind: "done", report });
  } catch (error) {
    post({ kind: "error", message: (error as Error).message });
  }
};
