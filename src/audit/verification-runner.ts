import type { Head } from "../../events/verify-chain";
import { PostgresStorage } from "../storage/postgres/storage";
import { SqliteStorage } from "../storage/sqlite/storage";
import type { VerifyRequest, VerifyWorkerMessage } from "../verify-worker";
import { DEFAULT_VERIFICATION_PACE, type VerificationPace } from "./verification-pace";
import type { VerifyReport } from "./verify-store";
import { workerEntry } from "../worker-entry";

/** Where a running verification tells how far it got: the snapshot's last position, then positions walked. */
export interface ProgressSink {
  total(total: number): void;
  checked(position: number): void;
}

/** Runs `verify` over the service's database in the background: the same checks, the same report as the CLI. */
export type VerificationRunner = (expectHead: Head | null, progress: ProgressSink) => Promise<VerifyReport>;

/** The CLI's check in a thread of its own (see verify-worker.ts for why), told where the database is when it starts. */
function workerRunner(where: () => { kind: "sqlite"; path: string } | { kind: "postgres"; url: string }, pace: VerificationPace): VerificationRunner {
  return (expectHead, progress) =>
    new Promise<VerifyReport>((resolve, reject) => {
      const worker = new Worker(workerEntry("verify-worker.ts"));
      // A check still running must not keep a stopping service alive.
      worker.unref();
      const end = (settle: () => void) => {
        worker.terminate();
        settle();
      };
      worker.onmessage = (event: MessageEvent<VerifyWorkerMessage>) => {
        const message = event.data;
        if (message.kind === "total") progress.total(message.total);
        else if (message.kind === "progress") progress.checked(message.checked);
        else if (message.kind === "done") end(() => resolve(message.report));
        else end(() => reject(new Error(message.message)));
      };
      worker.onerror = (event) => end(() => reject(new Error(event.message)));
      try {
        worker.postMessage({ ...where(), expectHead, pace } satisfies VerifyRequest);
      } catch (error) {
        end(() => reject(error));
      }
    });
}

/**
 * The runner for the service's storage; null for a storage that is neither backend (a stand-in of a test). The
 * service's jobs run at the default pace; a test about the jobs themselves may run them at full speed.
 */
export function verificationRunnerFor(storage: unknown, pace: VerificationPace = DEFAULT_VERIFICATION_PACE): VerificationRunner | null {
  if (storage instanceof SqliteStorage) return workerRunner(() => ({ kind: "sqlite", path: storage.location }), pace);
  if (storage instanceof PostgresStorage) return workerRunner(() => ({ kind: "postgres", url: storage.connectionUrl() }), pace);
  return null;
}
