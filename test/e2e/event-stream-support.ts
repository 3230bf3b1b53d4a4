/**
 * A real Server-Sent Events client for the end-to-end tests of GET /api/events/stream: the npm `eventsource`
 * package, as an integrator's Node.js service would use it (it reconnects by itself and sends Last-Event-ID).
 * Each event is recorded with the time it arrived.
 */
import { EventSource } from "eventsource";
import { OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED } from "../../events/opportunity-events";

export interface ReceivedEvent {
  id: number;
  type: string;
  data: { position: number; streamId: string; version: number; data: { changes?: Record<string, unknown> } };
  /** performance.now() when it arrived. */
  at: number;
}

export interface StreamClient {
  readonly received: ReceivedEvent[];
  /** How many times the connection was opened (1 + reconnects). */
  readonly opens: () => number;
  /** How many times it failed or ended (EventSource then reconnects). */
  readonly errors: () => number;
  /** Resolves once `count` events have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  /** Resolves once the connection has been opened `count` times. */
  waitForOpens(count: number, timeoutMs?: number): Promise<void>;
  close(): void;
}

async function until(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await Bun.sleep(5);
  }
}

/** Opens an EventSource on `baseUrl`'s stream with the secret (sent by the client's fetch, as Node clients do). */
export function streamClient(baseUrl: string, secret: string, query = ""): StreamClient {
  const received: ReceivedEvent[] = [];
  let opens = 0;
  let errors = 0;
  const source = new EventSource(`${baseUrl}/api/events/stream${query}`, {
    fetch: (url, init) => fetch(url, { ...init, headers: { ...init.headers, "X-Internal-Secret": secret } }),
  });
  const record = (event: MessageEvent) => received.push({ id: Number(event.lastEventId), type: event.type, data: JSON.parse(event.data), at: performance.now() });
  for (const type of [OPPORTUNITY_CREATED, OPPORTUNITY_UPDATED]) source.addEventListener(type, record);
  source.addEventListener("open", () => (opens += 1));
  source.addEventListener("error", () => (errors += 1));
  return {
    received,
    opens: () => opens,
    errors: () => errors,
    waitFor: (count, timeoutMs = 10_000) => until(() => received.length >= count, timeoutMs, () => `${count} events (got ${received.length})`),
    waitForOpens: (count, timeoutMs = 10_000) => until(() => opens >= count, timeoutMs, () => `${count} opens (got ${opens}, ${errors} errors)`),
    close: () => source.close(),
  };
}

/** The p-th percentile (0-100) of some numbers. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Positions from `from` to `to`, inclusive. */
export const positionsFrom = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);
