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

export interface ExecuteRequest {
  id: number;
  command: OpportunityCommand;
  metadata: EventMetadata;
  idempotency?: IdempotencyClaim;
}

export type Answer = { id: number; result: unknown } | { id: number; message: string; sqliteCode?: string };

// Requests and answers travel in batches: one message per event-loop turn, not one per request.
export type ToWorker =
  | { kind: "open"; dbPath: string; writer: WriterOptions }
  | { kind: "execute"; requests: ExecuteRequest[] }
  | { kind: "prune"; id: number; before: number }
  | { kind: "close" };

export type FromWorker =
  | { kind: "opened" }
  | { kind: "answers"; answers: Answer[] }
  | { kind: "commit"; seconds: number; eventTypes: string[] }
  | { kind: "closed"; checkpointed: boolean; checkpointError?: string }
  | { kind: "fatal"; message: string };

declare const self: Worker;
let service: ServiceStore | undefined;
const post = (message: FromWorker) => self.postMessage(message);

function failure(id: number, error: unknown): Answer {
  if (error instanceof StorageUnavailableError) return { id, message: error.message, sqliteCode: error.sqliteCode };
  return { id, message: (error as Error)?.message ?? String(error) };
}

// Answers settled in one turn (a whole committed batch) go back in one message.
let outbox: Answer[] = [];
function answer(item: Answer): void {
  if (outbox.length === 0) {
    queueMicrotask(() => {
      const answers = outbox;
      outbox = [];
      post({ kind: "answers", answers });
    });
  }
  outbox.push(item);
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
      for (const request of message.requests) {
        service!.writer.execute(request.command, request.metadata, request.idempotency).then(
          (result) => answer({ id: request.id, result }),
          (error: unknown) => answer(failure(request.id, error)),
        );
      }
      return;
    case "prune":
      service!.writer.pruneIdempotencyKeys(new Date(message.before)).then(
        (count) => answer({ id: message.id, result: count }),
        (error: unknown) => answer(failure(message.id, error)),
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
