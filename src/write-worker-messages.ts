import { parseExactJson, stringifyExactJson } from "../events/exact-json";
import type { WriterOptions } from "./opportunity-writer";
import { StorageUnavailableError } from "./storage-errors";
import type { UnitResult, WriteUnit } from "./write/batch-plan";

/**
 * What the HTTP thread and the writer thread (write-worker.ts) say to each other, and how an error crosses: a
 * message is plain data only, so an error travels as its message and code and is rebuilt on the other side, a
 * storage failure as StorageUnavailableError (HTTP 503) again.
 */
export interface ErrorShape {
  message: string;
  code?: string;
  unavailable?: boolean;
}

export type Outcome = { result: UnitResult } | { error: ErrorShape };

export type ToWorker =
  | { kind: "open"; dbPath: string; writer: WriterOptions; checkpointThread: boolean }
  | { kind: "commit"; id: number; requests: WriteUnit[]; allOrNothing: boolean }
  | { kind: "prune"; id: number; before: string; limit: number }
  | { kind: "close" };

export type FromWorker =
  | { kind: "opened" }
  | { kind: "committed"; id: number; seconds: number; eventTypes: string[]; outcomes: Outcome[]; head: { position: number; hash: string } }
  | { kind: "pruned"; id: number; count: number }
  | { kind: "failed"; id: number; error: ErrorShape }
  | { kind: "closed"; checkpointed: boolean; checkpointError?: string }
  | { kind: "fatal"; message: string };

export function errorShape(error: unknown): ErrorShape {
  if (error instanceof StorageUnavailableError) return { message: error.message, code: error.code, unavailable: true };
  const code = (error as { code?: unknown })?.code;
  return { message: (error as Error)?.message ?? String(error), code: typeof code === "string" ? code : undefined };
}

export function errorOf(shape: ErrorShape): Error {
  const error = Object.assign(new Error(shape.message), shape.code === undefined ? {} : { code: shape.code });
  return shape.unavailable ? new StorageUnavailableError(shape.code!, error) : error;
}

/**
 * A message as it crosses: exact JSON text (64-bit IDs stay exact: a bigint is written as its digits and read
 * back as a bigint, every safe integer stays a number). Measured in Bun 1.4.5: posting a batch of 12 updates
 * as an object (structured clone) costs the sender about 28 µs, as JSON text about 5.5 µs, stringify included.
 * Messages hold only what JSON holds: no undefined member is needed on the other side, no Map, no Date.
 */
export const encodeMessage = (message: ToWorker | FromWorker): string => stringifyExactJson(message);

export const decodeMessage = <T extends ToWorker | FromWorker>(text: string): T => parseExactJson(text) as T;
