/**
 * The thread of a verification job (POST /api/audit/verifications): the CLI's `verify`, run beside the service.
 * On the HTTP thread it would compete with every request for the processor: a SQLite file's check is one
 * synchronous read transaction (PRAGMA integrity_check, then every event, the projection, the idempotency
 * answers), and even PostgreSQL's, paged over a connection, hashes every event on the thread that reads it
 * (measured: a quarter of the writes' throughput left). Here it runs on a connection of its own, reading one
 * consistent snapshot while the service goes on writing, at the pace the request gives (the service's is
 * DEFAULT_VERIFICATION_PACE: the lowest CPU priority, working a quarter of the time), so that the HTTP and writer
 * threads get the processor first.
 */
import type { Database } from "bun:sqlite";
import { setPriority } from "node:os";
import type { Head } from "../events/verify-chain";
import { verifyAuditReads, verifyStore, type VerifyReport } from "./audit/verify-store";
import { openPostgresAsIs } from "./cli/command-storage";
import { openReadOnlyDatabase } from "./cli/shared-options";
import { pacer, type VerificationPace } from "./audit/verification-pace";

/**
 * Where the database is: the SQLite file, or the PostgreSQL URL with its password (it never leaves the process);
 * and how the check yields the processor.
 */
export type VerifyRequest = ({ kind: "sqlite"; path: string } | { kind: "postgres"; url: string }) & { expectHead: Head | null; pace: VerificationPace };

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

/** Told every few hundred events: posts the progress now and then, and paces the check (see verification-pace.ts). */
function progressHook(pace: VerificationPace): (position: number) => void {
  let lastPost = 0;
  const yieldNow = pacer(pace);
  return (checked) => {
    const now = performance.now();
    yieldNow();
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
function verifyFile(path: string, expectHead: Head | undefined, pace: VerificationPace): VerifyReport {
  const db = openReadOnlyDatabase(path);
  try {
    return db.transaction(() => {
      // Read inside the transaction: the total is that of the snapshot the check walks.
      post({ kind: "total", total: lastPosition(db) });
      return verifyStore(db, { expectHead, onProgress: progressHook(pace) });
    })();
  } finally {
    db.close();
  }
}

/** As `verify --db postgres://…`: the storage's audit snapshot (REPEATABLE READ, READ ONLY), on a pool of its own. */
async function verifyPostgres(url: string, expectHead: Head | undefined, pace: VerificationPace): Promise<VerifyReport> {
  const storage = await openPostgresAsIs(url);
  try {
    return await storage.audit(async (reads) => {
      // Asked for nothing but the head: the last position of this very snapshot.
      post({ kind: "total", total: (await reads.eventFacts({ streamsAt: [], positions: [], keys: [], creations: false })).head });
      return verifyAuditReads(reads, { expectHead, onProgress: progressHook(pace) });
    });
  } finally {
    await storage.close();
  }
}

self.onmessage = async (event: MessageEvent<VerifyRequest>) => {
  const request = event.data;
  if (request.pace.lowPriority) lowerThisThreadsPriority();
  const expectHead = request.expectHead ?? undefined;
  try {
    const report = request.kind === "sqlite" ? verifyFile(request.path, expectHead, request.pace) : await verifyPostgres(request.url, expectHead, request.pace);
    post({ kind: "done", report });
  } catch (error) {
    post({ kind: "error", message: (error as Error).message });
  }
};
