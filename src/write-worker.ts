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
import type { WriteResult, WriterOptions } from "./opportunity-writer";

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

/** A committed transaction, for the metrics: how long it took and which events it appended. */
export interface Commit {
  seconds: number;
  eventTypes: string[];
}

export type FromWorker =
  | { kind: "opened" }
  | { kind: "settled"; commits: Commit[]; answers: Answer[] }
  | { kind: "closed"; checkpointed: boolean; checkpointError?: string }
  | { kind: "fatal"; message: string };

declare const self: Worker;
let service: ServiceStore | undefined;
const post = (message: FromWorker) => self.postMessage(message);

function failure(id: number, error: unknown): Answer {
  if (error instanceof StorageUnavailableError) return { id, message: error.message, sqliteCode: error.sqliteCode };
  return { id, message: (error as Error)?.message ?? String(error) };
}

// What one turn settled (a committed batch: its commit and its answers) goes back in one message, so the
// HTTP thread is woken once per batch. The commit is noted first and sent with the answers of its batch:
// every batch answers each of its requests, and those answers are queued just after the commit, so the
// first of them schedules the message after the rest (microtasks run in order).
let commits: Commit[] = [];
let answers: Answer[] = [];
function answer(item: Answer): void {
  if (answers.length === 0) {
    queueMicrotask(() => {
      post({ kind: "settled", commits, answers });
      commits = [];
      answers = [];
    });
  }
  answers.push(item);
}

/**
 * The HTTP thread needs the outcome, not the events: they are in the database, `appended` says how many, and
 * a request's events would be copied across for nothing.
 */
function outcomeOf(result: WriteResult): WriteResult {
  return result.ok && result.events.length > 0 ? { ...result, events: [] } : result;
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.kind) {
    case "open":
      try {
        service = openServiceStore(message.dbPath, { writer: message.writer });
        service.writer.onCommit = (seconds, eventTypes) => commits.push({ seconds, eventTypes: [...eventTypes] });
        post({ kind: "opened" });
      } catch (error) {
        post({ kind: "fatal", message: (error as Error).message });
      }
      return;
    case "execute":
      for (const request of message.requests) {
        service!.writer.execute(request.command, request.metadata, request.idempotency).then(
          (result) => answer({ id: request.id, result: outcomeOf(result) }),
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
