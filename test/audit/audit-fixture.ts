/**
 * Helpers of the audit tests: an attacker's raw SQL access to a database file (triggers dropped first), a
 * chain re-hasher written with the auditor's independent hash (store-fixture's `auditorHash`), and a tiny
 * deterministic PRNG for seeded sequences.
 */
import { Database } from "bun:sqlite";
import { expect } from "bun:test";
import { verifyStore, type VerifyOptions, type VerifyReport } from "../../src/audit/verify-store";
import type { EventRow } from "../../events/stored-event";
import { openDatabase } from "../../src/storage/sqlite/database";
import { createEventTable } from "../../src/storage/sqlite/schema";
import { auditorHash, GENESIS, type Resources } from "../store/store-fixture";
export { prng } from "../support/seeded-random";

/** A random integer in [0, n). */
export const pick = (random: () => number, n: number): number => Math.floor(random() * n);

/**
 * Opens the file as a careful attacker would: a plain connection, the append-only triggers dropped for the
 * work and put back after it (so only the data tells). The connection is closed when `work` returns, so the
 * file is left exactly as the attacker wrote it. `keepTriggersDropped` leaves them out.
 */
export function tamper(path: string, work: (db: Database) => void, options: { keepTriggersDropped?: boolean } = {}): void {
  const db = new Database(path);
  try {
    db.run("DROP TRIGGER IF EXISTS events_no_update");
    db.run("DROP TRIGGER IF EXISTS events_no_delete");
    work(db);
    if (!options.keepTriggersDropped) createEventTable(db);
  } finally {
    db.close();
  }
}

/** Every event row, in position order, as a plain connection reads it. */
export function rawRows(db: Database): EventRow[] {
  return db.query<EventRow, []>("SELECT * FROM events ORDER BY position").all();
}

/**
 * Recomputes prev_hash and hash of every row from `fromPosition` on, as a careful attacker would after
 * altering a row: the chain is then internally valid again.
 */
export function rehashFrom(db: Database, fromPosition: number): void {
  const rows = rawRows(db);
  const update = db.prepare("UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?");
  let prev = GENESIS;
  for (const row of rows) {
    if (row.position >= fromPosition) {
      const rehashed = { ...row, prev_hash: prev };
      rehashed.hash = auditorHash(rehashed);
      update.run(rehashed.prev_hash, rehashed.hash, row.position);
      prev = rehashed.hash;
    } else {
      prev = row.hash;
    }
  }
}

/** Replaces the whole events table with `rows` as given (positions, versions and hashes untouched). */
export function replaceAllEvents(db: Database, rows: readonly EventRow[]): void {
  db.transaction(() => {
    db.run("DELETE FROM events");
    const insert = db.prepare(
      `INSERT INTO events (position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const r of rows) {
      insert.run(r.position, r.event_id, r.stream_id, r.version, r.type, r.schema_version, r.data, r.metadata, r.recorded_at, r.prev_hash, r.hash);
    }
  })();
}

/** Re-chains rows in memory (GENESIS first), recomputing every prev_hash and hash. */
export function rechain(rows: readonly EventRow[]): EventRow[] {
  let prev = GENESIS;
  return rows.map((row) => {
    const next = { ...row, prev_hash: prev };
    next.hash = auditorHash(next);
    prev = next.hash;
    return next;
  });
}

/** Opens a database file with the project's pragmas; closed by the resources' disposeAll. */
export function openTracked(resources: Resources, path: string): Database {
  const db = openDatabase(path);
  resources.onDispose(() => db.close());
  return db;
}

/** The field names listed after "differs from the events in: " in a projection-drift reason. */
export function driftFields(reason: string): string[] {
  const marker = "differs from the events in: ";
  const at = reason.indexOf(marker);
  if (at < 0) return [];
  return reason
    .slice(at + marker.length)
    .split(",")
    .map((field) => field.trim())
    .sort();
}

/**
 * verify, both ways: walked in position order, and shared out over ranges of streams (as a large store is; here
 * forced on a small one, the ranges walked on this thread: verify-in-ranges.test.ts runs them in threads). The
 * two reports must be the same, finding for finding: the shared walk either holds up or leaves the findings to
 * the walk in order.
 */
export function verifyBothWays(db: Database, options: VerifyOptions = {}): VerifyReport {
  const inOrder = verifyStore(db, options, { threads: 1 });
  const shared = verifyStore(db, options, { threads: 3, minEventsPerThread: 1, inline: true });
  expect(shared).toEqual(inOrder);
  return inOrder;
}
