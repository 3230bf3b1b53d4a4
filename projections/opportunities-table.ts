import type { Database, Statement } from "bun:sqlite";
import { normalizeInteger } from "../events/exact-json";
import {
  OPPORTUNITY_FIELD_NAMES,
  OPPORTUNITY_FIELDS,
  OPPORTUNITY_UPDATED,
  type FieldValue,
  type OpportunityField,
  type OpportunityUpdatedData,
} from "../events/opportunity-events";
import type { Projector } from "../events/event-store";
import { evolve, type Opportunity } from "./opportunity-state";

export const OPPORTUNITIES_TABLE = "opportunities";

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
const SQL_TYPE = { text: "TEXT", number: "REAL", integer: "INTEGER", boolean: "INTEGER" } as const;

/** Field name -> column name, one column per updatable field. */
export const FIELD_COLUMNS = Object.fromEntries(OPPORTUNITY_FIELD_NAMES.map((name) => [name, snakeCase(name)])) as Record<OpportunityField, string>;

const COLUMNS = ["id", "code", "end_customer_name", ...OPPORTUNITY_FIELD_NAMES.map((name) => FIELD_COLUMNS[name]), "version", "created_at", "updated_at"];

export function createOpportunitiesTable(db: Database, table = OPPORTUNITIES_TABLE): void {
  const fieldColumns = OPPORTUNITY_FIELD_NAMES.map((name) => `${FIELD_COLUMNS[name]} ${SQL_TYPE[OPPORTUNITY_FIELDS[name]]}`);
  db.run(`CREATE TABLE IF NOT EXISTS ${table} (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    end_customer_name TEXT NOT NULL,
    ${fieldColumns.join(",\n    ")},
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  )`);
}

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

function fromRow(row: Row): Opportunity {
  const state = {
    id: Number(row.id),
    opportunityCode: row.code as string,
    endCustomerName: row.end_customer_name as string,
    version: Number(row.version),
    createdAt: row.created_at as string,
    updatedAt: row.updated_at as string,
  } as Opportunity;
  for (const name of OPPORTUNITY_FIELD_NAMES) {
    const value = row[FIELD_COLUMNS[name]] ?? null;
    let field: FieldValue = value;
    if (value !== null) {
      const kind = OPPORTUNITY_FIELDS[name];
      if (kind === "boolean") field = Number(value) !== 0;
      else if (kind === "integer") field = normalizeInteger(value as bigint);
      else if (kind === "number") field = Number(value);
    }
    state[name] = field;
  }
  return state;
}

/** Reads and writes opportunity rows with statements prepared once. */
export class OpportunitiesTable {
  private readonly byCode: Statement<Row, [string]>;
  private readonly all: Statement<Row, []>;
  private readonly insertRow: Statement<unknown, [Row]>;
  private readonly updateRow: Statement<unknown, [Row]>;
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
    const assignments = COLUMNS.filter((c) => c !== "id" && c !== "code").map((c) => `${c} = $${c}`);
    this.updateRow = db.prepare(`UPDATE ${table} SET ${assignments.join(", ")} WHERE id = $id AND code = $code`);
    this.maxId = db.prepare(`SELECT COALESCE(MAX(id), 0) AS id FROM ${table}`);
  }

  find(code: string): Opportunity | null {
    const row = this.byCode.get(code);
    return row ? fromRow(row) : null;
  }

  list(): Opportunity[] {
    return this.all.all().map(fromRow);
  }

  nextId(): number {
    return this.maxId.get()!.id + 1;
  }

  insert(state: Opportunity): void {
    this.insertRow.run(toRow(state));
  }

  update(state: Opportunity): void {
    const result = this.updateRow.run(toRow(state)) as { changes: number };
    if (result.changes !== 1) throw new Error(`projection row for ${state.opportunityCode} is missing`);
  }

  /** Releases the prepared statements, so that closing the database really closes it (Bun defers otherwise). */
  finalize(): void {
    for (const statement of [this.byCode, this.all, this.insertRow, this.updateRow, this.maxId, ...this.changeStatements.values()]) statement.finalize();
    this.changeStatements.clear();
  }

  count(): number {
    return this.db.query<{ n: number }, []>(`SELECT COUNT(*) AS n FROM ${this.table}`).get()!.n;
  }

  /**
   * Applies an update's changes with one UPDATE of just those columns, without reading the row first: the
   * hot path of every write. Returns false when it cannot (an unknown field), and the caller folds instead.
   */
  private applyChanges(code: string, changes: Record<string, FieldValue>, version: number, updatedAt: string): boolean {
    const fields = Object.keys(changes).sort();
    if (fields.some((field) => !Object.hasOwn(FIELD_COLUMNS, field))) return false;
    const key = fields.join(",");
    let statement = this.changeStatements.get(key);
    if (!statement) {
      // One statement per set of changed fields; integrators send few distinct sets, and the cache is bounded.
      if (this.changeStatements.size >= 256) this.changeStatements.clear();
      const assignments = fields.map((field, index) => `${FIELD_COLUMNS[field as OpportunityField]} = ?${index + 1}`);
      statement = this.db.prepare(
        `UPDATE ${this.table} SET ${[...assignments, `version = ?${fields.length + 1}`, `updated_at = ?${fields.length + 2}`].join(", ")} WHERE code = ?${fields.length + 3}`,
      );
      this.changeStatements.set(key, statement);
    }
    const values = fields.map((field) => {
      const value = changes[field]!;
      return typeof value === "boolean" ? (value ? 1 : 0) : value;
    });
    const result = statement.run(...values, version, updatedAt, code) as { changes: number };
    if (result.changes !== 1) throw new Error(`projection row for ${code} is missing`);
    return true;
  }

  /**
   * The projector that keeps this table in step with the event store, inside its transaction. Updates set
   * just the changed columns (what `evolve` does to the state, column for column; the tests hold the live
   * table equal to a rebuild); anything else is folded with `evolve`.
   */
  projector(): Projector {
    return (_db, event) => {
      if (event.type === OPPORTUNITY_UPDATED) {
        const { changes } = event.data as OpportunityUpdatedData;
        if (this.applyChanges(event.streamId, changes, event.version, event.recordedAt)) return;
      }
      const before = this.find(event.streamId);
      const after = evolve(before, event);
      if (after === null) return;
      if (before === null) this.insert(after);
      else this.update(after);
    };
  }
}
