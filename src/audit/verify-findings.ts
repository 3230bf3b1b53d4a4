/**
 * What `verify` found wrong, each with where it shows: `position N` for an event, `table T` for a table's
 * rows, `schema` or `database` for the file itself. Every check adds to one list, so an auditor sees every
 * finding at once, and no odd stored value can stop the others from running.
 */
export interface VerifyFinding {
  /** The event's position, or 0 when the finding is not about one event. */
  position: number;
  at: string;
  reason: string;
}

export const atPosition = (position: number, reason: string): VerifyFinding => ({ position, at: `position ${position}`, reason });
export const atTable = (table: string, reason: string): VerifyFinding => ({ position: 0, at: `table ${table}`, reason });

/** The findings of one verify, kept up to a limit: a store where every row is bad must not fill the memory. */
export class FindingList {
  readonly items: VerifyFinding[] = [];
  total = 0;

  constructor(private readonly limit = 1000) {}

  add(finding: VerifyFinding): void {
    this.total += 1;
    if (this.items.length < this.limit) this.items.push(finding);
  }

  /** Runs one check; a check that throws (a corrupt page, a value no reader expects) becomes a finding too. */
  run(at: string, check: () => void): void {
    try {
      check();
    } catch (error) {
      this.add({ position: 0, at, reason: `the check could not finish: ${(error as Error).message}` });
    }
  }

  /** The same, for a check that reads across a connection. */
  async runAsync(at: string, check: () => Promise<void>): Promise<void> {
    try {
      await check();
    } catch (error) {
      this.add({ position: 0, at, reason: `the check could not finish: ${(error as Error).message}` });
    }
  }

  /** The findings, with one more saying how many were left out beyond the limit. */
  list(): VerifyFinding[] {
    const omitted = this.total - this.items.length;
    return omitted > 0 ? [...this.items, { position: 0, at: "verify", reason: `${omitted} more finding(s) not listed` }] : [...this.items];
  }
}
