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
/** Told about every committed write transaction: how long it took and which events it appended. */
export type CommitObserver = (seconds: number, eventTypes: readonly string[]) => void;

export class OpportunityWriter {
  /** Set by the service to feed its metrics; the writer works without one. */
  onCommit: CommitObserver | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly table: OpportunitiesTable,
  ) {}

  async execute(command: OpportunityCommand, metadata: EventMetadata): Promise<WriteResult> {
    return this.observed((types) => this.store.write((tx) => this.decideAndAppend(tx, command, metadata, types)));
  }

  /**
   * Several commands in one transaction (one fsync), each decided against the state the ones before it left.
   * A rejected command does not stop the others; an unexpected error rolls back the whole batch.
   */
  async executeMany(items: readonly { command: OpportunityCommand; metadata: EventMetadata }[]): Promise<WriteResult[]> {
    return this.observed((types) => this.store.write((tx) => items.map((item) => this.decideAndAppend(tx, item.command, item.metadata, types))));
  }

  /** Times a write transaction and reports it once it has committed (a rolled-back one throws past this). */
  private observed<T>(write: (eventTypes: string[]) => T): T {
    const started = performance.now();
    const eventTypes: string[] = [];
    const result = write(eventTypes);
    this.onCommit?.((performance.now() - started) / 1000, eventTypes);
    return result;
  }

  private decideAndAppend(tx: WriteTransaction, command: OpportunityCommand, metadata: EventMetadata, appendedTypes: string[]): WriteResult {
    const state = this.table.find(command.opportunityCode);
    const decision = decide(command, state, { nextId: state ? state.id : this.table.nextId() });
    if (!decision.ok || decision.events.length === 0) return decision;
    tx.append(command.opportunityCode, state?.version ?? 0, decision.events, metadata);
    for (const event of decision.events) appendedTypes.push(event.type);
    return { ...decision, appended: decision.events.length };
  }
}
