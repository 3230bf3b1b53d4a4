import type { SQL } from "bun";
import { GENESIS_HASH } from "../../../events/hash-chain";
import { COLUMNS as OPPORTUNITY_COLUMNS } from "./opportunity-rows";
import { POSTGRES_SCHEMA_VERSION } from "./schema";

/**
 * What `verify` checks of a PostgreSQL database's own structure, beside its rows: the guards the service relies
 * on must still be there as this binary made them. The append-only trigger can be dropped, disabled or replaced
 * by a superuser; a missing unique constraint lets a second event take a stream's version; a head row that is
 * not the last event would make the next batch fork the chain; another schema version is another program's data;
 * a column of another type stores other bytes (a `data` turned jsonb rewrites the hashed text, a float id rounds).
 */

type Finding = { at: string; reason: string };

const TRIGGER = "events_append_only";
/** pg_get_triggerdef's text of the trigger schema.ts creates (PostgreSQL lists the events in its own order). */
const TRIGGER_DEFINITION = "CREATE TRIGGER events_append_only BEFORE DELETE OR UPDATE OR TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()";
/** The definition without the schema PostgreSQL qualifies the table with (the service uses whichever is current). */
const unqualified = (definition: string) => definition.replace(/ ON ("[^"]+"|[a-z_][a-z0-9_$]*)\.events /, " ON events ");
const TRIGGER_BODY = "BEGIN RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP; END";

/** The primary keys and unique constraints each table must have, as pg_get_constraintdef prints them. */
const CONSTRAINTS: Record<string, readonly string[]> = {
  events: ['PRIMARY KEY ("position")', "UNIQUE (event_id)", "UNIQUE (stream_id, version)"],
  event_head: ["PRIMARY KEY (one)"],
  opportunities: ["PRIMARY KEY (id)", "UNIQUE (code)"],
  idempotency_keys: ["PRIMARY KEY (client, key)"],
  idempotency_key_counts: ["PRIMARY KEY (client, bucket_end)"],
  schema_version: ["PRIMARY KEY (one)"],
};

/** PostgreSQL's own names of the short type names the CREATE statements use. */
const FORMATTED_TYPE: Record<string, string> = { int8: "bigint", int4: "integer", float8: "double precision", text: "text", boolean: "boolean" };

/** Each table's columns as schema.ts and its siblings create them: type as format_type prints it, and NOT NULL. */
const NOT_NULL = true;
const COLUMNS: Record<string, readonly (readonly [name: string, type: string, notNull: boolean])[]> = {
  events: [
    ["position", "bigint", NOT_NULL],
    ["event_id", "text", NOT_NULL],
    ["stream_id", "text", NOT_NULL],
    ["version", "bigint", NOT_NULL],
    ["type", "text", NOT_NULL],
    ["schema_version", "integer", NOT_NULL],
    ["data", "text", NOT_NULL],
    ["metadata", "text", NOT_NULL],
    ["recorded_at", "text", NOT_NULL],
    ["prev_hash", "text", NOT_NULL],
    ["hash", "text", NOT_NULL],
  ],
  event_head: [
    ["one", "boolean", NOT_NULL],
    ["position", "bigint", NOT_NULL],
    ["hash", "text", NOT_NULL],
  ],
  // Declared once, where the projection's statements are built; a primary key or NOT NULL in it means NOT NULL.
  opportunities: OPPORTUNITY_COLUMNS.map(([name, type, constraint]) => [name, FORMATTED_TYPE[type] ?? type, /NOT NULL|PRIMARY KEY/.test(constraint ?? "")] as const),
  idempotency_keys: [
    ["client", "text", NOT_NULL],
    ["key", "text", NOT_NULL],
    ["fingerprint", "text", NOT_NULL],
    ["outcome", "text", NOT_NULL],
    ["created_at", "text", NOT_NULL],
    ["stream_id", "text", false],
    ["position", "bigint", false],
    ["appended", "bigint", false],
  ],
  idempotency_key_counts: [
    ["client", "text", NOT_NULL],
    ["bucket_end", "text", NOT_NULL],
    ["keys", "bigint", NOT_NULL],
  ],
  schema_version: [
    ["one", "boolean", NOT_NULL],
    ["version", "integer", NOT_NULL],
  ],
};

const squeeze = (text: string) => text.replace(/\s+/g, " ").trim();

async function triggerFindings(sql: SQL): Promise<Finding[]> {
  const triggers: { name: string; table: string; definition: string; enabled: string; body: string }[] = await sql`
    SELECT t.tgname AS name, c.relname AS table, pg_get_triggerdef(t.oid) AS definition, t.tgenabled AS enabled, p.prosrc AS body
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace ORDER BY t.tgname`;
  const findings: Finding[] = [];
  const guard = triggers.find((trigger) => trigger.name === TRIGGER && trigger.table === "events");
  if (!guard) findings.push({ at: "schema", reason: `trigger ${TRIGGER} is missing: the table is no longer guarded` });
  else if (unqualified(guard.definition) !== TRIGGER_DEFINITION) findings.push({ at: "schema", reason: `trigger ${TRIGGER} is not defined as this binary defines it: ${guard.definition}` });
  else if (squeeze(guard.body) !== TRIGGER_BODY) findings.push({ at: "schema", reason: `trigger ${TRIGGER} runs a function this binary did not write: ${squeeze(guard.body)}` });
  // 'O' fires in normal sessions; 'D' is disabled, 'R' and 'A' fire only under a replication role setting.
  else if (guard.enabled !== "O") findings.push({ at: "schema", reason: `trigger ${TRIGGER} is disabled (tgenabled ${guard.enabled}): the table is no longer guarded` });
  for (const trigger of triggers) {
    if (trigger !== guard) findings.push({ at: "schema", reason: `unexpected trigger ${trigger.name} on ${trigger.table}: ${trigger.definition}` });
  }
  return findings;
}

async function constraintFindings(sql: SQL): Promise<Finding[]> {
  const rows: { table: string; definition: string }[] = await sql`
    SELECT c.relname AS table, pg_get_constraintdef(k.oid) AS definition
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
    WHERE c.relnamespace = current_schema()::regnamespace AND k.contype IN ('p', 'u')`;
  const tables: { name: string }[] = await sql`SELECT relname AS name FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'`;
  const present = new Set(tables.map((table) => table.name));
  const found = new Set(rows.map((row) => `${row.table} ${row.definition}`));
  const findings: Finding[] = [];
  for (const [table, wanted] of Object.entries(CONSTRAINTS)) {
    if (!present.has(table)) {
      findings.push({ at: "schema", reason: `table ${table} is missing` });
      continue;
    }
    for (const definition of wanted) {
      if (!found.has(`${table} ${definition}`)) findings.push({ at: "schema", reason: `table ${table} lacks its ${definition} constraint` });
    }
  }
  return findings;
}

/** Every column of the service's tables present, of its type and nullability, and no other column. */
async function columnFindings(sql: SQL): Promise<Finding[]> {
  const rows: { table: string; name: string; type: string; not_null: boolean }[] = await sql`
    SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
      AND c.relname = ANY(${sql.array(Object.keys(COLUMNS), "TEXT")})`;
  const findings: Finding[] = [];
  for (const [table, wanted] of Object.entries(COLUMNS)) {
    const present = new Map(rows.filter((row) => row.table === table).map((row) => [row.name, row]));
    // A missing table is reported once, by the constraint check.
    if (present.size === 0) continue;
    for (const [name, type, notNull] of wanted) {
      const column = present.get(name);
      present.delete(name);
      if (!column) findings.push({ at: "schema", reason: `table ${table} lacks its column ${name}` });
      else if (column.type !== type) findings.push({ at: "schema", reason: `column ${table}.${name} is ${column.type}, not ${type} as this binary made it` });
      else if (column.not_null !== notNull) findings.push({ at: "schema", reason: `column ${table}.${name} ${notNull ? "accepts NULL" : "refuses NULL"}, unlike the one this binary made` });
    }
    for (const name of present.keys()) findings.push({ at: "schema", reason: `unexpected column ${table}.${name}: not one this binary made` });
  }
  return findings;
}

/** The head row must be the last event (or position 0 and the genesis hash before any event). */
async function headFindings(sql: SQL): Promise<Finding[]> {
  const heads: { position: string; hash: string }[] = await sql`SELECT position, hash FROM event_head`;
  if (heads.length !== 1) return [{ at: "table event_head", reason: `holds ${heads.length} rows, not the one head row` }];
  const [last] = (await sql`SELECT position, hash FROM events ORDER BY position DESC LIMIT 1`) as { position: string; hash: string }[];
  const expected = last ? `${Number(last.position)}:${last.hash}` : `0:${GENESIS_HASH}`;
  const actual = `${Number(heads[0]!.position)}:${heads[0]!.hash}`;
  return actual === expected ? [] : [{ at: "table event_head", reason: `the head row says ${actual}, but the last event is ${expected}` }];
}

async function versionFindings(sql: SQL): Promise<Finding[]> {
  const rows: { version: number }[] = await sql`SELECT version FROM schema_version`;
  const version = rows.length === 1 ? Number(rows[0]!.version) : null;
  if (version === POSTGRES_SCHEMA_VERSION) return [];
  return [{ at: "schema", reason: `the schema version is ${version ?? `missing (${rows.length} rows)`}, this binary's is ${POSTGRES_SCHEMA_VERSION}` }];
}

/**
 * Every structural finding, checks in order; each runs on its own so that one missing table does not hide the
 * others (a failed statement would end the read transaction, so tables are looked up before they are read).
 */
export async function structuralFindings(sql: SQL): Promise<Finding[]> {
  const findings = [...(await triggerFindings(sql)), ...(await constraintFindings(sql)), ...(await columnFindings(sql))];
  const tables: { name: string }[] = await sql`SELECT relname AS name FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'`;
  const present = new Set(tables.map((table) => table.name));
  if (present.has("event_head") && present.has("events")) findings.push(...(await headFindings(sql)));
  if (present.has("schema_version")) findings.push(...(await versionFindings(sql)));
  return findings;
}
