/**
 * The writer thread. bun:sqlite commits synchronously, so an fsync blocks whichever thread commits; here it
 * blocks this one, while the HTTP thread keeps parsing and validating the next requests. Requests that reach
 * this thread while a commit runs queue up and form the next batch (group commit), exactly as in-process.
 * Messages are small objects (structured clone keeps bigints exact); see write-worker-client.ts for the other end.
 */
import type { EventMetadata } from "../events/opportunity-events";
import type { OpportunityCommand } from "./commands";
import type { IdempotencyClaim } from "./idempotency";
import { openServiceStore, type ServiceStore } from "./service-store";
import { StorageUnavailableError } from "./storage-errors";
import type { WriterOptions } from "./opportunity-writer";

export type ToWorker =
  | { kind: "open"; dbPath: string; writer: WriterOptions }
  | { kind: "execute"; id: number; command: OpportunityCommand; metadata: EventMetadata; idempotency?: IdempotencyClaim }
  | { kind: "prune"; id: number; before: number }
  | { kind: "close" };

export type FromWorker =
  | { kind: "opened" }
  | { kind: "result"; id: number; result: unknown }
  | { kind: "failed"; id: number; message: string; sqliteCode?: string }
  | { kind: "commit"; seconds: number; eventTypes: string[] }
  | { kind: "closed"; checkpointed: boolean; checkpointError?: string }
  | { kind: "fatal"; message: string };

declare const self: Worker;
let service: ServiceStore | undefined;
const post = (message: FromWorker) => self.postMessage(message);

function failure(id: number, error: unknown): FromWorker {
  if (error instanceof StorageUnavailableError) return { kind: "failed", id, message: error.message, sqliteCode: error.sqliteCode };
  return { kind: "failed", id, message: (error as Error)?.message ?? String(error) };
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.kind) {
    case "open":
      try {
        service = openServiceStore(message.dbPath, { writer: message.writer });
        service.writer.onCommit = (seconds, eventTypes) => post({ kind: "commit", seconds, eventTypes: [...eventTypes] });
        post({ kind: "opened" });
      } catch (error) {
        post({ kind: "fatal", message: (error as Error).message });
      }
      return;
    case "execute":
      service!.writer.execute(message.command, message.metadata, message.idempotency).then(
        (result) => post({ kind: "result", id: message.id, result }),
        (error: unknown) => post(failure(message.id, error)),
      );
      return;
    case "prune":
      service!.writer.pruneIdempotencyKeys(new Date(message.before)).then(
        (count) => post({ kind: "result", id: message.id, result: count }),
        (error: unknown) => post(failure(message.id, error)),
      );
      return;
    case "close": {
      // Everything queued has been answered by now (the client waits for its pending requests first).
      const closed = service?.close() ?? { checkpointed: true };
      service = undefined;
      post({ kind: "closed", ...closed });
      return;
    }
  }
};
