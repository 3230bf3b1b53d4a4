import type { SQL } from "bun";
import { normalizeInteger } from "../../../events/exact-json";
import { OPPORTUNITY_FIELD_NAMES, OPPORTUNITY_FIELDS } from "../../../events/opportunity-events";
import type { Opportunity } from "../../../projections/opportunity-state";
import type { ProjectionChange } from "../../write/batch-plan";
import { FIELD_COLUMNS, opportunityFromRow, type FieldDecoder } from "../opportunity-columns";

/**
 * The `opportunities` projection on PostgreSQL: the same columns as on SQLite, typed for PostgreSQL. int8 comes
 * back from Bun's client as a string (exact); a row maps to the same Opportunity as on SQLite: 64-bit IDs that
 * are safe integers as numbers, larger ones as bigints, booleans as booleans, the amount as a number.
 */

const PG_TYPE = { text: "text", number: "float8", integer: "int8", boolean: "boolean" } as const;

/** Every column in table order with its type and constraint; values travel as text and are cast on the server. */
export const COLUMNS: readonly (readonly [name: string, type: string, constraint?: string])[] = [
  ["id", "int8", "PRIMARY KEY"],
  ["code", "text", "NOT NULL UNIQUE"],
  ["end_customer_name", "text", "NOT NULL"],
  ...OPPORTUNITY_FIELD_NAMES.map((name) => [FIELD_COLUMNS[name], PG_TYPE[OPPORTUNITY_FIELDS[name]]] as const),
  ["version", "int8", "NOT NULL"],
  ["created_at", "text", "NOT NULL"],
  ["updated_at", "text", "NOT NULL"],
];
const NAMES = COLUMNS.map(([name]) => name);

export const CREATE_OPPORTUNITIES_TABLE = `CREATE TABLE opportunities (\n  ${COLUMNS.map((column) => column.join(" ").trim()).join(",\n  ")}\n)`;

// Set-based: one statement for all the rows of a batch, each column one text[] parameter, cast on the server.
const unnestColumns = COLUMNS.map((_, index) => `$${index + 1}::text[]`).join(", ");
const castColumns = COLUMNS.map(([name, type]) => (type === "text" ? `t.${name}` : `t.${name}::${type}`));
const INSERT_ROWS = `INSERT INTO opportunities (${NAMES.join(", ")}) SELECT ${castColumns.join(", ")} FROM unnest(${unnestColumns}) AS t(${NAMES.join(", ")})`;
// The last parameter is how many rows must change. Fewer is a bug, and it must fail on the server: the batch's
// COMMIT goes out with this statement (PipelinedTransaction), before its answer could be checked here. The cast
// of a text that is no number is the plain-SQL way to raise an error whose message says what went wrong.
const expected = `$${COLUMNS.length + 1}::int8`;
const UPDATE_ROWS =
  `WITH changed AS (UPDATE opportunities AS o SET ${COLUMNS.slice(2).map(([name], index) => `${name} = ${castColumns[index + 2]}`).join(", ")} ` +
  `FROM unnest(${unnestColumns}) AS t(${NAMES.join(", ")}) WHERE o.id = t.id::int8 AND o.code = t.code RETURNING 1) ` +
  `SELECT CASE WHEN count(*) = ${expected} THEN count(*) ELSE ('projection rows missing: updated ' || count(*) || ' of ' || ${expected})::int8 END AS updated FROM changed`;

type Row = Record<string, string | number | boolean | null>;

/** PostgreSQL's storage of a field, as Bun's client returns it: int8 as exact text, booleans as booleans. */
const decodeField: FieldDecoder = (kind, value) => {
  if (kind === "integer") return normalizeInteger(BigInt(value as string));
  if (kind === "number") return Number(value);
  if (kind === "boolean") return value === true || value === "t" || value === "true";
  return value as string;
};

const fromRow = (row: Row): Opportunity => opportunityFromRow(row, decodeField);

/** A state's column values as text, in COLUMNS order (null stays NULL). */
function toTexts(state: Opportunity): (string | null)[] {
  const values: unknown[] = [state.id, state.opportunityCode, state.endCustomerName, ...OPPORTUNITY_FIELD_NAMES.map((name) => state[name]), state.version, state.createdAt, state.updatedAt];
  return values.map((value) => (value === null || value === undefined ? null : String(value)));
}

export async function findOpportunity(sql: SQL, code: string): Promise<Opportunity | null> {
  const rows: Row[] = await sql`SELECT * FROM opportunities WHERE code = ${code}`;
  return rows[0] ? fromRow(rows[0]) : null;
}

export async function countOpportunities(sql: SQL): Promise<number> {
  const [row] = await sql`SELECT count(*) AS n FROM opportunities`;
  return Number(row.n);
}

/** The current state of each code (null when there is none); for the snapshot read under the lock. */
export function readStates(sql: SQL, codes: readonly string[]): PromiseLike<Map<string, Opportunity | null>> {
  const states = new Map<string, Opportunity | null>(codes.map((code) => [code, null]));
  return sql`SELECT * FROM opportunities WHERE code = ANY(${sql.array([...codes], "TEXT")})`.then((rows: Row[]) => {
    for (const row of rows) states.set(row.code as string, fromRow(row));
    return states;
  });
}

/** The largest id given so far, 0 when none. */
export function readMaxId(sql: SQL): PromiseLike<number> {
  return sql`SELECT COALESCE(MAX(id), 0) AS id FROM opportunities`.then((rows: Row[]) => Number(rows[0]!.id));
}

/** Column-major text arrays of these states: one array parameter per column. */
function columnArrays(sql: SQL, states: readonly Opportunity[]) {
  const rows = states.map(toTexts);
  return COLUMNS.map((_, column) => sql.array(rows.map((row) => row[column]), "TEXT"));
}

/**
 * Writes the projection changes of a batch: one INSERT for the rows it created, one UPDATE for those it changed
 * (every column, from the state after the batch). Not awaited here, so they go out in one round trip with the
 * other writes; a row that should exist and does not is a bug and fails the batch, on the server.
 */
export function writeProjections(sql: SQL, changes: readonly ProjectionChange[]): PromiseLike<unknown>[] {
  const created = changes.filter((change) => change.created).map((change) => change.state);
  const updated = changes.filter((change) => !change.created).map((change) => change.state);
  const writes: PromiseLike<unknown>[] = [];
  if (created.length > 0) writes.push(sql.unsafe(INSERT_ROWS, columnArrays(sql, created)));
  if (updated.length > 0) {
    writes.push(sql.unsafe(UPDATE_ROWS, [...columnArrays(sql, updated), updated.length]));
  }
  return writes;
}

/** Every row of the projection, in id order (verify, restore). */
export async function listOpportunities(sql: SQL): Promise<Opportunity[]> {
  const rows: Row[] = await sql`SELECT * FROM opportunities ORDER BY id`;
  return rows.map(fromRow);
}

const INSERT_CHUNK = 5_000;

/** Inserts these states as new rows (a rebuild or a restore), a few thousand per statement. */
export async function insertOpportunities(sql: SQL, states: readonly Opportunity[]): Promise<void> {
  for (let start = 0; start < states.length; start += INSERT_CHUNK) {
    await sql.unsafe(INSERT_ROWS, columnArrays(sql, states.slice(start, start + INSERT_CHUNK)));
  }
}
