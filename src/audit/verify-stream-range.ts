import type { Database } from "bun:sqlite";
import { toEventRow } from "../../events/event-row-shape";
import { eventHash } from "../../events/hash-chain";
import type { EventRow } from "../../events/stored-event";
import type { ChainProblem, RowChainCheck } from "../../events/verify-chain";
import type { Opportunity } from "../../projections/opportunity-state";
import { rangeWhere, type StreamRange } from "../storage/sqlite/stream-range-fold";
import { StoreAuditor } from "./verify-store";

/**
 * The chain checks one range of streams can make alone, its rows coming stream by stream in version order:
 * each row's hash recomputes from its columns, and each stream's versions come in position order (walked in
 * position order, a version out of place shows as a wrong version). Gaps and the links between neighbouring
 * positions are checked over the whole store (verify-in-ranges.ts).
 */
class StreamOrderChain implements RowChainCheck {
  readonly head = null;
  private stream: string | null = null;
  private position = 0;

  check(row: EventRow): ChainProblem | null {
    const after = row.stream_id === this.stream ? this.position : 0;
    this.stream = row.stream_id;
    this.position = row.position;
    if (row.position <= after) return { position: row.position, reason: `version ${row.version} of ${row.stream_id} is at an earlier position than the version before it` };
    if (eventHash(row.prev_hash, row) !== row.hash) return { position: row.position, reason: "hash does not match the event's stored columns" };
    return null;
  }

  passOver(): void {}
}

/** Whether a range of streams held up, and what the rest of verify needs of it when it did. */
export interface RangeCheck {
  sound: boolean;
  events: number;
  /** The latest state of each stream of the range. */
  states: Opportunity[];
  /** Each opportunity id created in the range, with its stream: ids must be unique across ranges too. */
  ids: [number, string][];
}

const UNSOUND: RangeCheck = { sound: false, events: 0, states: [], ids: [] };

/**
 * verify's checks of each event (StoreAuditor's: hash, columns, data, versions, previous values, ids) over one
 * range of streams, through `throughPosition`. It stops at the first problem: a range that does not hold up is
 * walked again in position order, which names every finding.
 */
export function checkStreamRange(db: Database, range: StreamRange, throughPosition: number): RangeCheck {
  const auditor = new StoreAuditor(new StreamOrderChain());
  const { where, params } = rangeWhere(range, throughPosition);
  const rows = db.prepare<Record<string, unknown>, (string | number)[]>(`SELECT * FROM events ${where} ORDER BY stream_id, version`);
  try {
    for (const stored of rows.iterate(...params)) {
      const row = toEventRow(stored);
      if (typeof row === "string" || auditor.checkRow(row) !== null) return UNSOUND;
    }
  } finally {
    rows.finalize();
  }
  return { sound: true, events: auditor.checked, states: [...auditor.states.values()], ids: [...auditor.idOwners] };
}
