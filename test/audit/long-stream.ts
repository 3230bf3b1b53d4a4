/**
 * One opportunity with a long history, written without HTTP because thousands of HTTP writes would only make
 * the tests and the benchmark slow: through a backend's writer, many commands per transaction (either backend),
 * or straight into a SqliteStorage (decide + append + projection, one transaction) for the very long SQLite
 * histories of the benchmark and the e2e export.
 */
import type { NewEvent } from "../../events/stored-event";
import { evolve, type Opportunity } from "../../projections/opportunity-state";
import type { OpportunityCommand } from "../../src/commands";
import { decide } from "../../src/decide";
import type { SqliteStorage } from "../../src/storage/sqlite/storage";
import type { GroupCommit } from "../../src/write/group-commit";
import { appendEvents } from "../store/store-fixture";

function commandAt(code: string, index: number): OpportunityCommand {
  if (index === 0) {
    return { type: "CreateOpportunity", opportunityCode: code, endCustomerName: "客户", fields: { opportunityName: "长历史商机", stage: "lead", amount: 100_000 } };
  }
  const fields: OpportunityCommand["fields"] = { amount: 100_000 + index, description: `第 ${index} 次回写，带一些中文说明文字` };
  if (index % 10 === 0) fields.salesExpansionId = 1_790_000_000_000_000_000n + BigInt(index);
  if (index % 7 === 0) fields.stage = index % 2 === 0 ? "solution" : "bidding";
  return { type: "UpdateOpportunity", opportunityCode: code, fields };
}

/**
 * Appends `count` events to the stream `code` (a creation with id `nextId`, then updates), `perWrite` events
 * per transaction. All events of one transaction share its recorded_at, read from `now` when it begins;
 * `beforeWrite(index)` runs before each transaction, e.g. to move a test clock.
 */
export interface LongStreamOptions {
  perWrite?: number;
  beforeWrite?: (index: number) => void;
}

/**
 * Writes `count` commands to the stream `code` through `writer` (a creation, then updates that each change
 * something), `perWrite` commands per transaction (executeMany: all or nothing, one recorded_at from the
 * writer's clock). `beforeWrite(index)` runs before each transaction, e.g. to move that clock.
 */
export async function writeLongStream(writer: GroupCommit, code: string, count: number, options: LongStreamOptions = {}): Promise<void> {
  const { perWrite = count, beforeWrite = () => {} } = options;
  for (let first = 0; first < count; first += perWrite) {
    beforeWrite(first);
    const requests = [];
    for (let index = first; index < Math.min(first + perWrite, count); index++) {
      requests.push({ command: commandAt(code, index), metadata: { actor: "test", requestId: `long-${first}` } });
    }
    const results = await writer.executeMany(requests);
    const unchanged = results.findIndex((result) => !result.ok || result.appended !== 1);
    if (unchanged >= 0) throw new Error(`long stream ${code}, command ${first + unchanged}: ${JSON.stringify(results[unchanged])}`);
  }
}

export function appendLongStream(
  storage: SqliteStorage,
  code: string,
  count: number,
  options: { nextId?: number; perWrite?: number; beforeWrite?: (index: number) => void; now?: () => Date } = {},
): void {
  const { nextId = 1, perWrite = count, beforeWrite = () => {}, now = () => new Date() } = options;
  let state: Opportunity | null = null;
  for (let first = 0; first < count; first += perWrite) {
    beforeWrite(first);
    const expectedVersion = state?.version ?? 0;
    const events: NewEvent[] = [];
    for (let index = first; index < Math.min(first + perWrite, count); index++) {
      const decision = decide(commandAt(code, index), state, { nextId });
      if (!decision.ok) throw new Error(`long stream ${code}, event ${index}: ${JSON.stringify(decision)}`);
      for (const event of decision.events) state = evolve(state, { ...event, version: (state?.version ?? 0) + 1, recordedAt: "" });
      events.push(...decision.events);
    }
    appendEvents(storage, [{ streamId: code, expectedVersion, events }], { actor: "test", requestId: `long-${first}` }, now());
  }
}
