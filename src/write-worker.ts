/**
 * The writer thread. bun:sqlite commits synchronously, so an fsync blocks whichever thread commits; here it
 * blocks this one, while the HTTP thread keeps parsing and validating the next requests. This thread keeps no
 * queue: the HTTP thread's group-commit queue (write-worker-client.ts) sends one batch at a time, and each
 * message is one batch, planned against the database and committed in one transaction here. Messages cross
 * as exact JSON text (write-worker-messages.ts).
 */
import { openServiceStore, type ServiceStore } from "./service-store";
import type { UnitResult } from "./write/batch-plan";
import { withoutEvents } from "./write/batch-update";
import { decodeMessage, encodeMessage, errorShape, type FromWorker, type Outcome, type ToWorker } from "./write-worker-messages";

declare const self: Worker;
let service: ServiceStore | undefined;
const post = (message: FromWorker) => self.postMessage(encodeMessage(message));

/**
 * The HTTP thread needs the outcome, not the events: they are in the database, `appended` says how many, and
 * a request's events would be copied across for nothing.
 */
function outcomeOf(result: UnitResult): UnitResult {
  if (!result.ok) return result;
  if ("batch" in result) return { ...result, batch: withoutEvents(result.batch) };
  return result.events.length > 0 ? { ...result, events: [] } : result;
}

async function commit(message: Extract<ToWorker, { kind: "commit" }>): Promise<void> {
  try {
    const { plan, seconds } = await service!.writer.commit(message.requests, { allOrNothing: message.allOrNothing });
    const outcomes = plan.outcomes.map((outcome): Outcome => ("result" in outcome ? { result: outcomeOf(outcome.result) } : { error: errorShape(outcome.error) }));
    post({ kind: "committed", id: message.id, seconds, eventTypes: plan.events.map((event) => event.type), outcomes, head: plan.head });
  } catch (error) {
    post({ kind: "failed", id: message.id, error: errorShape(error) });
  }
}

self.onmessage = (event: MessageEvent<string>) => {
  const message = decodeMessage<ToWorker>(event.data);
  switch (message.kind) {
    case "open":
      try {
        service = openServiceStore(message.dbPath, { writer: message.writer, checkpointThread: message.checkpointThread });
        post({ kind: "opened" });
      } catch (error) {
        post({ kind: "fatal", message: (error as Error).message });
      }
      return;
    case "commit":
      void commit(message);
      return;
    case "prune":
      service!.storage.pruneIdempotencyKeys(message.before, message.limit).then(
        (count) => post({ kind: "pruned", id: message.id, count }),
        (error: unknown) => post({ kind: "failed", id: message.id, error: errorShape(error) }),
      );
      return;
    case "close": {
      // Everything sent has been answered by now (the client waits for its pending requests first).
      const closed = service?.close() ?? { checkpointed: true };
      service = undefined;
      post({ kind: "closed", ...closed });
      return;
    }
  }
};
