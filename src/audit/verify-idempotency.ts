import type { Database, Statement } from "bun:sqlite";
import { NOT_FOUND } from "../decide";
import type { AuditReads, EventFactAnswers, EventFactQuestions, IdempotencyKeyRow } from "../storage/port";
import { PROOF_COLUMNS } from "../storage/sqlite/schema";
import { batchFactQuestions, checkStoredBatch, readStoredBatch, type StoredBatch } from "./verify-batch-keys";

/**
 * Checks every stored replay answer in `idempotency_keys` against the events. A retry with a stored key is
 * answered from the row alone, so a row edited behind the service's back (a forged success for an
 * opportunity that does not exist) would be served as the truth; the events are hash-chained, the keys are
 * not, so each answer must follow from the events at the place its proof columns name:
 *
 * - every event carrying the key and client after that position is one the request appended, and those
 *   are exactly the `appended` events right after it, all of the named opportunity;
 * - a success: the opportunity reached the answered version there, and its creation event gave it the
 *   answered id;
 * - a refusal appended nothing, and agrees with the opportunity at that position (not_found: none yet,
 *   already_exists: created, conflict: at the version the refusal names).
 *
 * A batch update's key stores the whole batch answer, with a proof that names no stream (stream_id NULL): each
 * item is held against the events in turn (verify-batch-keys.ts).
 *
 * Rows stored before schema version 3 have no proof (NULL): a success must still name an opportunity that
 * exists with that id and has reached that version. What no check can tell: a request that changed nothing
 * appends no event, so a row rewritten consistently into another answer the events allow at its position (a
 * success that changed nothing, a conflict) cannot be told from a true one.
 */
export interface IdempotencyFinding {
  client: string;
  key: string;
  reason: string;
}

export const IDEMPOTENCY_TABLE = "idempotency_keys";

/** A finding as verify prints it: the table, then the client and key quoted (control characters escaped). */
export function describeIdempotencyFinding(finding: IdempotencyFinding): string {
  return `client ${JSON.stringify(finding.client)} key ${JSON.stringify(finding.key)}: ${finding.reason}`;
}

type KeyRow = IdempotencyKeyRow;

type Answer = { ok: true; id: number; version: number } | { ok: false; reason: string; message: string; version?: number } | { ok: true; batch: StoredBatch };
interface Proof {
  /** Null for a batch update's key. */
  streamId: string | null;
  position: number;
  appended: number;
}
/** The proof of a single write's key: the stream it named. */
type SingleProof = Proof & { streamId: string };
type SingleAnswer = Exclude<Answer, { batch: StoredBatch }>;

const REFUSALS = new Set(["not_found", "already_exists", "conflict"]);
const isCount = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value) && value >= 0;
const isPositive = (value: unknown): value is number => isCount(value) && value > 0;

/** The stored answer, or why it is not one the writer stores. */
function readAnswer(text: unknown): Answer | string {
  let value: unknown;
  try {
    value = JSON.parse(String(text));
  } catch {
    return "the stored answer is not JSON";
  }
  const answer = value as Record<string, unknown>;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "the stored answer is not an object";
  const keys = Object.keys(answer).sort().join(",");
  if (answer.ok === true && keys === "batch,ok") {
    const batch = readStoredBatch(answer.batch, String(text));
    return typeof batch === "string" ? batch : { ok: true, batch };
  }
  if (answer.ok === true) {
    if (keys !== "id,ok,version" || !isPositive(answer.id) || !isPositive(answer.version)) return `the stored success is malformed: ${String(text)}`;
    return answer as Answer;
  }
  if (answer.ok === false) {
    const shapeOk = (keys === "message,ok,reason" || keys === "message,ok,reason,version") && typeof answer.message === "string";
    if (!shapeOk || !REFUSALS.has(answer.reason as string) || (answer.version !== undefined && !isPositive(answer.version))) {
      return `the stored refusal is malformed: ${String(text)}`;
    }
    return answer as Answer;
  }
  return `the stored answer has no ok true/false: ${String(text)}`;
}

/** The proof columns, null when all are NULL (a row stored before they existed), or why they are unusable. */
function readProof(row: KeyRow): Proof | null | string {
  const { stream_id: streamId, position, appended } = row;
  if (streamId == null && position == null && appended == null) return null;
  if ((streamId !== null && typeof streamId !== "string") || !isCount(position) || !isCount(appended)) {
    return `the proof columns are malformed (stream_id ${JSON.stringify(streamId)}, position ${JSON.stringify(position)}, appended ${JSON.stringify(appended)})`;
  }
  return { streamId, position, appended };
}

/** What the checks need to know of the events (each backend answers it its own way). */
interface EventFacts {
  /** The last position, 0 when there are no events. */
  readonly head: number;
  /** The stream's version once the chain had reached `position` (0: not created yet). */
  version(streamId: string, position?: number): number;
  /** The id the stream's creation event gave it, if it was created by `position`. */
  createdId(streamId: string, position?: number): unknown;
  streamOf(position: number): string | undefined;
  /** The opportunity created with this id, and its current version (for rows without proof). */
  ownerOf(id: number): { streamId: string; version: number } | undefined;
}

const idOf = (data: string | null | undefined): unknown => {
  if (data == null) return undefined;
  try {
    return (JSON.parse(data) as { id?: unknown }).id;
  } catch {
    return undefined;
  }
};

/** Reads of the events of a SQLite file, prepared once and asked one at a time (SQLite answers at once). */
class SqliteEventFacts implements EventFacts {
  private readonly versionAt: Statement<{ v: number }, [string, number]>;
  private readonly creation: Statement<{ data: string }, [string, number]>;
  private readonly streamAt: Statement<{ stream_id: string }, [number]>;
  readonly head: number;
  private owners: Map<number, { streamId: string; version: number }> | undefined;

  constructor(private readonly db: Database) {
    this.versionAt = db.query<{ v: number }, [string, number]>("SELECT COALESCE(MAX(version), 0) AS v FROM events WHERE stream_id = ? AND position <= ?");
    this.creation = db.query<{ data: string }, [string, number]>("SELECT data FROM events WHERE stream_id = ? AND version = 1 AND position <= ?");
    this.streamAt = db.query<{ stream_id: string }, [number]>("SELECT stream_id FROM events WHERE position = ?");
    this.head = db.query<{ p: number }, []>("SELECT COALESCE(MAX(position), 0) AS p FROM events").get()!.p;
  }

  /** The stream's version once the chain had reached `position` (0: not created yet). */
  version(streamId: string, position = this.head): number {
    return this.versionAt.get(streamId, position)!.v;
  }

  /** The id the stream's creation event gave it, if it was created by `position`. */
  createdId(streamId: string, position = this.head): unknown {
    return idOf(this.creation.get(streamId, position)?.data);
  }

  streamOf(position: number): string | undefined {
    return this.streamAt.get(position)?.stream_id;
  }

  /** The opportunity created with this id, and its current version (for rows without proof). */
  ownerOf(id: number): { streamId: string; version: number } | undefined {
    if (!this.owners) {
      this.owners = new Map();
      for (const row of this.db.query<{ stream_id: string; data: string }, []>("SELECT stream_id, data FROM events WHERE version = 1").iterate()) {
        try {
          const created = JSON.parse(row.data) as { id?: unknown };
          if (typeof created.id === "number") this.owners.set(created.id, { streamId: row.stream_id, version: 0 });
        } catch {
          // An unreadable creation event is the event checks' finding; it gives no owner here.
        }
      }
    }
    const owner = this.owners.get(id);
    return owner && { streamId: owner.streamId, version: this.version(owner.streamId) };
  }
}

/** Positions of the events that carry each client's key in their metadata, for the keys in `wanted`. */
function keyedEventPositions(rows: Iterable<{ position: number; metadata: string }>, wanted: Set<string>): Map<string, number[]> {
  const found = new Map<string, number[]>();
  for (const row of rows) {
    let metadata: { actor?: unknown; idempotencyKey?: unknown };
    try {
      metadata = JSON.parse(row.metadata);
    } catch {
      continue; // The event checks report unreadable metadata.
    }
    const slot = `${String(metadata.actor)}\n${String(metadata.idempotencyKey)}`;
    if (!wanted.has(slot)) continue;
    const positions = found.get(slot) ?? [];
    positions.push(row.position);
    found.set(slot, positions);
  }
  return found;
}

function checkSuccess(answer: { id: number; version: number }, proof: SingleProof, facts: EventFacts): string | null {
  const reached = proof.position + proof.appended;
  for (let position = proof.position + 1; position <= reached; position++) {
    const stream = facts.streamOf(position);
    if (stream !== proof.streamId) return `the success says the request appended position ${position} to ${JSON.stringify(proof.streamId)}, but that event is ${stream === undefined ? "missing" : `of ${JSON.stringify(stream)}`}`;
  }
  const version = facts.version(proof.streamId, reached);
  if (version !== answer.version) return `the stored success answers version ${answer.version} of ${JSON.stringify(proof.streamId)}, but at position ${reached} the events have it at version ${version}`;
  const id = facts.createdId(proof.streamId, reached);
  if (id !== answer.id) return `the stored success answers id ${answer.id}, but the events created ${JSON.stringify(proof.streamId)} with id ${JSON.stringify(id ?? null)}`;
  return null;
}

function checkRefusal(answer: { reason: string; message: string; version?: number }, proof: SingleProof, facts: EventFacts): string | null {
  if (proof.appended !== 0) return `a stored refusal (${answer.reason}) says it appended ${proof.appended} event(s)`;
  const version = facts.version(proof.streamId, proof.position);
  const at = `at position ${proof.position} ${JSON.stringify(proof.streamId)} ${version === 0 ? "did not exist" : `was at version ${version}`}`;
  if (answer.reason === "not_found" && (version !== 0 || answer.message !== NOT_FOUND)) return `the stored refusal says ${JSON.stringify(answer.message)}, but ${at}`;
  if (answer.reason === "already_exists" && version === 0) return `the stored refusal says ${JSON.stringify(answer.message)}, but ${at}`;
  if (answer.reason === "conflict" && (version === 0 || answer.version !== version)) return `the stored refusal says ${JSON.stringify(answer.message)}, but ${at}`;
  return null;
}

/** Events carrying this key after the proof's position must be exactly the ones the request appended. */
function checkKeyedEvents(positions: readonly number[], proof: Proof): string | null {
  const after = positions.filter((position) => position > proof.position);
  const expected = Array.from({ length: proof.appended }, (_, index) => proof.position + 1 + index);
  if (after.join(",") === expected.join(",")) return null;
  return `events carrying this key and client are at position(s) ${after.join(", ") || "none"} after position ${proof.position}, but the stored answer accounts for ${expected.join(", ") || "none"}`;
}

/** A row stored before the proof columns: a success must at least name an opportunity the events hold. */
function checkUnproven(answer: SingleAnswer, facts: EventFacts): string | null {
  if (!answer.ok) return null;
  const owner = facts.ownerOf(answer.id);
  if (!owner) return `the stored success answers id ${answer.id}, but no event creates an opportunity with that id`;
  if (owner.version < answer.version) return `the stored success answers version ${answer.version} of ${JSON.stringify(owner.streamId)}, which the events never reach (version ${owner.version})`;
  return null;
}

function checkRow(row: KeyRow, facts: EventFacts, keyed: Map<string, number[]>): string | null {
  if (typeof row.client !== "string" || typeof row.key !== "string") return "client and key must be text";
  const answer = readAnswer(row.outcome);
  if (typeof answer === "string") return answer;
  const proof = readProof(row);
  if (typeof proof === "string") return proof;
  if ("batch" in answer) {
    if (proof === null) return "the stored batch answer has no proof columns";
    if (proof.streamId !== null) return "the stored batch answer names a stream in its proof";
  } else if (proof === null) return checkUnproven(answer, facts);
  else if (proof.streamId === null) return "the proof names no stream for an answer that is not a batch";
  if (proof.position + proof.appended > facts.head) return `the proof names positions up to ${proof.position + proof.appended}, beyond the chain's end at ${facts.head}`;
  const events = checkKeyedEvents(keyed.get(`${row.client}\n${row.key}`) ?? [], proof);
  if (events) return events;
  if ("batch" in answer) return checkStoredBatch(answer.batch, proof, facts);
  const single = proof as SingleProof;
  return answer.ok ? checkSuccess(answer, single, facts) : checkRefusal(answer, single, facts);
}

const columnsOf = (db: Database, table: string) => new Set(db.query<{ name: string }, []>(`PRAGMA table_info(${table})`).all().map((column) => column.name));
const slotOf = (row: KeyRow) => `${String(row.client)}\n${String(row.key)}`;

/** Checks every row against the facts: one finding per row the events do not support, never an exception. */
function checkKeyRows(rows: readonly KeyRow[], facts: EventFacts, keyed: Map<string, number[]>): IdempotencyFinding[] {
  const findings: IdempotencyFinding[] = [];
  for (const row of rows) {
    let reason: string | null;
    try {
      reason = checkRow(row, facts, keyed);
    } catch (error) {
      reason = `the row could not be checked: ${(error as Error).message}`;
    }
    if (reason) findings.push({ client: String(row.client), key: String(row.key), reason });
  }
  return findings;
}

/**
 * Every stored answer that the events do not support, one finding per row (a row that cannot even be read
 * is a finding too, never an exception). A database without the table (schema version 1) has none.
 */
export function verifyIdempotencyKeys(db: Database): IdempotencyFinding[] {
  const columns = columnsOf(db, IDEMPOTENCY_TABLE);
  if (columns.size === 0) return [];
  const proofColumns = Object.keys(PROOF_COLUMNS).filter((name) => columns.has(name));
  const rows = db.query<KeyRow, []>(`SELECT ${["client", "key", "outcome", ...proofColumns].join(", ")} FROM ${IDEMPOTENCY_TABLE} ORDER BY client, key`).all();
  if (rows.length === 0) return [];
  const keyedRows = db
    .query<{ position: number; metadata: string }, []>(`SELECT position, metadata FROM events WHERE instr(metadata, '"idempotencyKey"') > 0 ORDER BY position`)
    .iterate();
  return checkKeyRows(rows, new SqliteEventFacts(db), keyedEventPositions(keyedRows, new Set(rows.map(slotOf))));
}

/** A forged `appended` could ask for millions of positions; the check that the proof lies within the chain names it anyway. */
const MAX_POSITIONS_PER_ROW = 10_000;

/** What checking these rows will ask of the events, so that a database across a connection answers it in bulk. */
function questionsOf(rows: readonly KeyRow[]): EventFactQuestions {
  const questions: EventFactQuestions = { streamsAt: [], positions: [], keys: [], creations: false };
  for (const row of rows) {
    if (typeof row.client !== "string" || typeof row.key !== "string") continue;
    questions.keys.push({ client: row.client, key: row.key });
    const proof = readProof(row);
    if (proof === null) questions.creations = true;
    if (proof === null || typeof proof === "string") continue;
    if (proof.streamId === null) {
      const answer = readAnswer(row.outcome);
      if (typeof answer === "string" || !("batch" in answer)) continue;
      const asked = batchFactQuestions(answer.batch, proof.position, MAX_POSITIONS_PER_ROW);
      questions.streamsAt.push(...asked.streamsAt);
      questions.positions.push(...asked.positions);
      continue;
    }
    const reached = proof.position + proof.appended;
    questions.streamsAt.push({ streamId: proof.streamId, position: proof.position }, { streamId: proof.streamId, position: reached });
    for (let position = proof.position + 1; position <= Math.min(reached, proof.position + MAX_POSITIONS_PER_ROW); position++) questions.positions.push(position);
  }
  return questions;
}

/** The facts a backend read in bulk for the questions: asking anything else is a bug, and says so. */
class AnsweredEventFacts implements EventFacts {
  readonly head: number;
  private readonly at = new Map<string, { version: number; creationData: string | null }>();
  private readonly owners = new Map<number, { streamId: string; version: number }>();

  constructor(
    questions: EventFactQuestions,
    private readonly answers: EventFactAnswers,
  ) {
    this.head = answers.head;
    questions.streamsAt.forEach((question, index) => this.at.set(`${question.streamId}\n${question.position}`, answers.streamsAt[index]!));
    for (const creation of answers.creations) {
      const id = idOf(creation.data);
      if (typeof id === "number") this.owners.set(id, { streamId: creation.streamId, version: creation.version });
    }
  }

  private fact(streamId: string, position: number) {
    const fact = this.at.get(`${streamId}\n${position}`);
    if (!fact) throw new Error(`no fact was read for ${JSON.stringify(streamId)} at position ${position}`);
    return fact;
  }

  version(streamId: string, position = this.head): number {
    return this.fact(streamId, position).version;
  }

  createdId(streamId: string, position = this.head): unknown {
    return idOf(this.fact(streamId, position).creationData);
  }

  streamOf(position: number): string | undefined {
    return this.answers.streamOf.get(position);
  }

  ownerOf(id: number): { streamId: string; version: number } | undefined {
    return this.owners.get(id);
  }
}

/**
 * The same checks over a database reached through the storage port (PostgreSQL): the rows and the facts they
 * need are read in a few bulk queries, then checked exactly as on SQLite.
 */
export async function verifyIdempotencyRows(
  reads: Pick<AuditReads, "idempotencyKeyRows" | "eventFacts">,
): Promise<IdempotencyFinding[]> {
  const rows = await reads.idempotencyKeyRows();
  if (rows.length === 0) return [];
  const questions = questionsOf(rows);
  const answers = await reads.eventFacts(questions);
  const keyed = keyedEventPositions(answers.keyedEvents, new Set(rows.map(slotOf)));
  return checkKeyRows(rows, new AnsweredEventFacts(questions, answers), keyed);
}
