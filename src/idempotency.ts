import type { Database, Statement } from "bun:sqlite";

/**
 * Idempotency keys: a client that retries a write with the same `Idempotency-Key` gets the first answer
 * again and nothing is applied twice. Each key is kept per client, with a fingerprint of the request it was
 * first used for, and the outcome. It is saved in the same transaction as the events of that request, so a
 * crash can never leave the one without the other.
 */
export function createIdempotencyTable(db: Database): void {
  db.run(`CREATE TABLE IF NOT EXISTS idempotency_keys (
    client      TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (client, key)
  ) WITHOUT ROWID`);
  db.run("CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at)");
}

/** What a request with an idempotency key carries to the writer. */
export interface IdempotencyClaim {
  client: string;
  key: string;
  /** sha256 of the method, path and canonical body: the same request, however its JSON was spelled. */
  fingerprint: string;
}

export class IdempotencyKeys {
  private readonly findKey: Statement<{ fingerprint: string; outcome: string }, [string, string]>;
  private readonly insertKey: Statement<unknown, [string, string, string, string, string]>;
  private readonly pruneKeys: Statement<unknown, [string]>;

  constructor(db: Database) {
    createIdempotencyTable(db);
    this.findKey = db.prepare("SELECT fingerprint, outcome FROM idempotency_keys WHERE client = ? AND key = ?");
    this.insertKey = db.prepare("INSERT INTO idempotency_keys (client, key, fingerprint, outcome, created_at) VALUES (?, ?, ?, ?, ?)");
    this.pruneKeys = db.prepare("DELETE FROM idempotency_keys WHERE created_at < ?");
  }

  find(claim: IdempotencyClaim): { fingerprint: string; outcome: unknown } | null {
    const row = this.findKey.get(claim.client, claim.key);
    return row ? { fingerprint: row.fingerprint, outcome: JSON.parse(row.outcome) } : null;
  }

  save(claim: IdempotencyClaim, outcome: unknown, at: Date): void {
    this.insertKey.run(claim.client, claim.key, claim.fingerprint, JSON.stringify(outcome), at.toISOString());
  }

  /** Forgets keys first used before `before`; returns how many. */
  prune(before: Date): number {
    return (this.pruneKeys.run(before.toISOString()) as { changes: number }).changes;
  }
}
