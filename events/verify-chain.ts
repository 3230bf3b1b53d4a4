import { eventHash, GENESIS_HASH } from "./hash-chain";
import type { EventRow } from "./stored-event";

/** The first thing wrong with a chain, at the position where it shows. */
export interface ChainProblem {
  position: number;
  reason: string;
}

export interface Head {
  position: number;
  hash: string;
}

/** How each row's place in the chain is checked, row by row. */
export interface RowChainCheck {
  /** The problem the next row shows, or null. */
  check(row: EventRow): ChainProblem | null;
  /** Moves past a row that showed a problem, as it is stored. */
  passOver(row: Pick<EventRow, "position" | "hash">): void;
  /** The last row found sound, where the check knows one. */
  readonly head: Head | null;
}

/**
 * Checks rows in position order, one at a time, so a chain of millions of events is walked in constant
 * memory: positions start at 1 with no gaps, every `prev_hash` is the previous row's `hash` (64 zeros for the
 * first), and every `hash` recomputes from the row's stored columns.
 */
export class ChainWalker implements RowChainCheck {
  private last: Head | null = null;
  count = 0;

  /** Checks the next row; returns the problem it shows, or null. */
  check(row: EventRow): ChainProblem | null {
    const expectedPosition = (this.last?.position ?? 0) + 1;
    if (row.position !== expectedPosition) {
      return row.position > expectedPosition
        ? { position: expectedPosition, reason: `position ${expectedPosition} is missing: the next event has position ${row.position}` }
        : { position: row.position, reason: `position ${row.position} is out of order after position ${expectedPosition - 1}` };
    }
    const expectedPrev = this.last?.hash ?? GENESIS_HASH;
    if (row.prev_hash !== expectedPrev) {
      return {
        position: row.position,
        reason: this.last
          ? `prev_hash does not link to the hash of position ${this.last.position}`
          : "prev_hash of the first event is not 64 zeros",
      };
    }
    const recomputed = eventHash(row.prev_hash, row);
    if (recomputed !== row.hash) {
      return { position: row.position, reason: "hash does not match the event's stored columns (the event was altered)" };
    }
    this.last = { position: row.position, hash: row.hash };
    this.count += 1;
    return null;
  }

  /**
   * Moves past a row that showed a problem, as it is stored: the rows after it are then checked against it, so
   * one altered or missing event is reported once, not again at every later position.
   */
  passOver(row: Pick<EventRow, "position" | "hash">): void {
    this.last = { position: row.position, hash: row.hash };
  }

  get head(): Head | null {
    return this.last;
  }
}

/** Parses `POSITION:HASH`, the head an auditor kept from an earlier `verify`. */
export function parseHead(text: string): Head | null {
  const match = /^(\d+):([0-9a-f]{64})$/.exec(text.trim());
  if (!match) return null;
  return { position: Number(match[1]), hash: match[2]! };
}

export const formatHead = (head: Head | null) => (head ? `${head.position}:${head.hash}` : "0:" + GENESIS_HASH);
