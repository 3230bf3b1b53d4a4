import type { Database } from "bun:sqlite";
import { SCHEMA_VERSION, schemaVersionOf } from "./schema-migrations";

/**
 * Whether the service can take writes now: the database answers, its schema is the one this binary writes,
 * and the write lock can be taken (a read-only file or a full disk shows here). Null when ready, else why not.
 */
export function readinessProblem(db: Database): string | null {
  try {
    const version = schemaVersionOf(db);
    if (version !== SCHEMA_VERSION) return `数据库结构版本为 ${version}，本程序需要 ${SCHEMA_VERSION}`;
    db.run("BEGIN IMMEDIATE");
    db.run("ROLLBACK");
    return null;
  } catch (error) {
    if (db.inTransaction) db.run("ROLLBACK");
    return `数据库不可写: ${(error as Error).message}`;
  }
}
