import type { EventStore, WriteTransaction } from "../events/event-store";
import type { EventMetadata } from "../events/opportunity-events";
import type { OpportunitiesTable } from "../projections/opportunities-table";
import type { OpportunityCommand } from "./commands";
import { decide, type Decision } from "./decide";

export type WriteResult = Decision & { appended?: number };

/**
 * The one write path of the process: load state, decide, append and project, all in one BEGIN IMMEDIATE
 * transaction. It is async on purpose: callers already await it, so requests can later be collected into
 * one transaction (group commit) without touching any handler.
 */
export class OpportunityWriter {
  constructor(
    private readonly store: EventStore,
    private readonly table: OpportunitiesTable,
  ) {}

  async execute(command: OpportunityCommand, metadata: EventMetadata): Promise<WriteResult> {
    return this.store.write((tx) => this.decideAndAppend(tx, command, metadata));
  }

  /**
   * Several commands in one transaction (one fsync), each decided against the state the ones before it left.
   * A rejected command does not stop the others; an unexpected error rolls back the whole batch.
   */
  async executeMany(items: readonly { command: OpportunityCommand; metadata: EventMetadata }[]): Promise<WriteResult[]> {
    return this.store.write((tx) => items.map((item) => this.decideAndAppend(tx, item.command, item.metadata)));
  }

  private decideAndAppend(tx: WriteTransaction, command: OpportunityCommand, metadata: EventMetadata): WriteResult {
    const state = this.table.find(command.opportunityCode);
    const decision = decide(command, state, { nextId: state ? state.id : this.table.nextId() });
    if (!decision.ok || decision.events.length === 0) return decision;
    tx.append(command.opportunityCode, state?.version ?? 0, decision.events, metadata);
    return { ...decision, appended: decision.events.length };
  }
}
