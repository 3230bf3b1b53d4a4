import type { SQL, TransactionSQL } from "bun";
import type { AuditReads, EventFactAnswers, EventFactQuestions, IdempotencyKeyRow } from "../port";
import { readRowsAfter } from "./event-reads";
import { listOpportunities } from "./opportunity-rows";
import { structuralFindings } from "./structure-check";

/** int8 arrives as text: a proof column is a number here, as on SQLite, or NULL; nothing else can be stored. */
const int8 = (value: unknown) => (value === null || value === undefined ? null : Number(value));

const KEYED_PAGE = 5_000;

async function keyedEvents(sql: SQL): Promise<{ position: number; metadata: string }[]> {
  const found: { position: number; metadata: string }[] = [];
  for (let after = 0; ; ) {
    const rows: { position: string; metadata: string }[] = await sql`
      SELECT position, metadata FROM events WHERE position > ${after} AND strpos(metadata, '"idempotencyKey"') > 0 ORDER BY position LIMIT ${KEYED_PAGE}`;
    for (const row of rows) found.push({ position: Number(row.position), metadata: row.metadata });
    if (rows.length < KEYED_PAGE) return found;
    after = Number(rows[rows.length - 1]!.position);
  }
}

/** Every fact the idempotency checks asked for, one statement per kind. */
async function eventFacts(sql: SQL, questions: EventFactQuestions): Promise<EventFactAnswers> {
  const [head] = await sql`SELECT COALESCE(MAX(position), 0) AS p FROM events`;
  const streams = sql.array(questions.streamsAt.map((question) => question.streamId), "TEXT");
  const positions = sql.array(questions.streamsAt.map((question) => question.position), "INT8");
  const at: { version: string; data: string | null }[] = await sql`
    SELECT (SELECT COALESCE(MAX(e.version), 0) FROM events e WHERE e.stream_id = q.s AND e.position <= q.p) AS version,
           (SELECT e.data FROM events e WHERE e.stream_id = q.s AND e.version = 1 AND e.position <= q.p) AS data
    FROM unnest(${streams}, ${positions}) WITH ORDINALITY AS q(s, p, n) ORDER BY q.n`;
  const owned: { position: string; stream_id: string }[] = await sql`
    SELECT position, stream_id FROM events WHERE position = ANY(${sql.array(questions.positions, "INT8")})`;
  const creations: { stream_id: string; data: string; version: string }[] = questions.creations
    ? await sql`SELECT c.stream_id, c.data, (SELECT MAX(e.version) FROM events e WHERE e.stream_id = c.stream_id) AS version FROM events c WHERE c.version = 1 ORDER BY c.position`
    : [];
  return {
    head: Number(head.p),
    streamsAt: at.map((row) => ({ version: Number(row.version), creationData: row.data })),
    streamOf: new Map(owned.map((row) => [Number(row.position), row.stream_id])),
    keyedEvents: questions.keys.length > 0 ? await keyedEvents(sql) : [],
    creations: creations.map((row) => ({ streamId: row.stream_id, data: row.data, version: Number(row.version) })),
  };
}

/**
 * The audit's reads on one PostgreSQL transaction (the caller's REPEATABLE READ snapshot). Each read runs in a
 * savepoint of its own: a failing one (a table someone dropped) becomes that check's finding, and the checks
 * after it still read the same snapshot instead of an aborted transaction.
 */
export function auditReads(tx: TransactionSQL): AuditReads {
  const isolated = <T>(read: (sql: SQL) => Promise<T>): Promise<T> => tx.savepoint((sp) => read(sp)) as Promise<T>;
  return {
    rawEventRowsAfter: (after, limit) => isolated((sql) => readRowsAfter(sql, after, limit) as unknown as Promise<Record<string, unknown>[]>),
    listOpportunities: () => isolated(listOpportunities),
    idempotencyKeyRows: () =>
      isolated(async (sql): Promise<IdempotencyKeyRow[]> => {
        const rows: Record<string, unknown>[] = await sql`
          SELECT client, key, outcome, stream_id, position, appended FROM idempotency_keys ORDER BY client COLLATE "C", key COLLATE "C"`;
        return rows.map((row) => ({ client: row.client, key: row.key, outcome: row.outcome, stream_id: row.stream_id, position: int8(row.position), appended: int8(row.appended) }));
      }),
    eventFacts: (questions) => isolated((sql) => eventFacts(sql, questions)),
    structuralFindings: () => isolated(structuralFindings),
  };
}
