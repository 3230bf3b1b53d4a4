import type { Database, Statement } from "bun:sqlite";
import { normalizeInteger } from "../../../events/exact-json";
import { OPPORTUNITY_FIELD_NAMES, type FieldValue, type OpportunityField } from "../../../events/opportunity-events";
import type { Opportunity } from "../../../projections/opportunity-state";
import type { ProjectionChange } from "../../write/batch-plan";
import { opportunityFromRow, type FieldDecoder } from "../opportunity-columns";
import { createOpportunitiesTable, FIELD_COLUMNS, OPPORTUNITIES_TABLE, OPPORTUNITY_COLUMNS as COLUMNS } from "./schema";

type Row = Record<string, string | number | bigint | null>;

function toRow(state: Opportunity): Row {
  const row: Row = {
    id: state.id,
    code: state.opportunityCode,
    end_customer_name: state.endCustomerName,
    version: state.version,
    created_at: state.createdAt,
    updated_at: state.updatedAt,
  };
  for (const name of OPPORTUNITY_FIELD_NAMES) {
    const value = state[name];
    row[FIELD_COLUMNS[name]] = typeof value === "boolean" ? (value ? 1 : 0) : value;
  }
  return row;
}

/** SQLite's storage of a field: booleans as 0/1, 64-bit IDs as bigints (safeIntegers), amounts as REAL. */
const decodeField: FieldDecoder = (kind, value) => {
  if (kind === "boolean") return Number(value) !== 0;
  if (kind === "integer") return normalizeInteger(value as bigint);
  if (kind === "number") return Number(value);
  return value as FieldValue;
};

const fromRow = (row: Row): Opportunity => opportunityFromRow(row, decodeField);

/** Reads and writes the rows of the `opportunities` projection with statements prepared once. */
export class OpportunitiesTable {
  private readonly byCode: Statement<Row, [string]>;
  private readonly all: Statement<Row, []>;
  private readonly insertRow: Statement<unknown, [Row]>;
  private readonly maxId: Statement<{ id: number }, []>;
  private readonly changeStatements = new Map<string, Statement>();

  constructor(
    private readonly db: Database,
    readonly table = OPPORTUNITIES_TABLE,
  ) {
    createOpportunitiesTable(db, table);
    // safeIntegers keeps 64-bit IDs exact; fromRow narrows them back to numbers where that is lossless.
    this.byCode = db.prepare<Row, [string]>(`SELECT * FROM ${table} WHERE code = ?`).safeIntegers(true);
    this.all = db.prepare<Row, []>(`SELECT * FROM ${table} ORDER BY id`).safeIntegers(true);
    this.insertRow = db.prepare(`INSERT INTO ${table} (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((c) => `$${c}`).join(", ")})`);
    this.maxId = db.prepare(`SELECT COALESCE(MAX(id), 0) AS id FROM ${table}`);
  }

  find(code: string): Opportunity | null {
    const row = this.byCode.get(code);
    return row ? fromRow(row) : null;
  }

  list(): Opportunity[] {
    return this.all.all().map(fromRow);
  }

  /** The largest id given so far, 0 when none. */
  largestId(): number {
    return this.maxId.get()!.id;
  }

  nextId(): number {
    return this.largestId() + 1;
  }

  insert(state: Opportunity): void {
    this.insertRow.run(toRow(state));
  }

  /** Releases the prepared statements, so that closing the database really closes it (Bun defers otherwise). */
  finalize(): void {
    for (const statement of [this.byCode, this.all, this.insertRow, this.maxId, ...this.changeStatements.values()]) statement.finalize();
    this.changeStatements.clear();
  }

  count(): number {
    return this.db.query<{ n: number }, []>(`SELECT COUNT(*) AS n FROM ${this.table}`).get()!.n;
  }

  /**
   * Writes one opportunity a batch changed: inserts the row it created, or updates just the columns the batch
   * changed (plus version and updated_at) with one UPDATE, without reading the row first: the hot path of
   * every write. The tests hold the live table equal to a rebuild from the events.
   */
  applyChange(change: ProjectionChange): void {
    if (change.created) {
      this.insert(change.state);
      return;
    }
    const { state } = change;
    const fields = [...change.changedFields].sort();
    const statement = this.changeStatement(fields);
    const values = fields.map((field) => {
      const value = state[field];
      return typeof value === "boolean" ? (value ? 1 : 0) : value;
    });
    const result = statement.run(...values, state.version, state.updatedAt, state.opportunityCode) as { changes: number };
    if (result.changes !== 1) throw new Error(`projection row for ${state.opportunityCode} is missing`);
  }

  /** One statement per set of changed fields; integrators send few distinct sets, and the cache is bounded. */
  private changeStatement(fields: readonly OpportunityField[]): Statement {
    const key = fields.join(",");
    let statement = this.changeStatements.get(key);
    if (statement) return statement;
    if (this.changeStatements.size >= 256) this.changeStatements.clear();
    const assignments = fields.map((field, index) => `${FIELD_COLUMNS[field]} = ?${index + 1}`);
    statement = this.db.prepare(
      `UPDATE ${this.table} SET ${[...assignments, `version = ?${fields.length + 1}`, `updated_at = ?${fields.length + 2}`].join(", ")} WHERE code = ?${fields.length + 3}`,
    );
    this.changeStatements.set(key, statement);
    return statement;
  }
}
