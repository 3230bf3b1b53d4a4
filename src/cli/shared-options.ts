import type { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { openDatabase } from "../storage/sqlite/database";
import { openReadOnly } from "./read-only-database";
import { assertSchemaSupported } from "../storage/sqlite/schema";
import { resolveSettings, settingOptions, settingsHelp } from "../settings";

/** The settings every command that touches a database shares (see settings.ts for flags, env and defaults). */
const DATABASE_SETTINGS = ["db", "stagesFile", "timeZone"] as const;

export const DATABASE_OPTIONS = { ...settingOptions(DATABASE_SETTINGS), help: { type: "boolean", short: "h" } } as const;
export const DATABASE_HELP = settingsHelp(DATABASE_SETTINGS);

/** A mistake in how a command was called: exit code 2 and a pointer to --help. */
export class UsageError extends Error {}

export interface DatabaseSettings {
  dbPath: string;
  stagesFile: string | undefined;
  timeZone: string;
}

/** Flags win over environment variables, which win over the config file, which wins over defaults. */
export function databaseSettings(flags: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): DatabaseSettings {
  const { values } = resolveSettings(DATABASE_SETTINGS, flags, env);
  return { dbPath: values.db, stagesFile: values.stagesFile, timeZone: values.timeZone };
}

/**
 * For commands that work on an existing store: a missing file is a mistake, not a new empty database, and a
 * database written by a newer binary is refused rather than misread.
 */
export function openExistingDatabase(path: string): Database {
  if (!existsSync(path)) throw new UsageError(`database ${path} does not exist (use --db or DB_PATH)`);
  return checkedSchema(openDatabase(path));
}

/** Like openExistingDatabase, for commands that only read (verify, export, history): works on a read-only mount. */
export function openReadOnlyDatabase(path: string): Database {
  if (!existsSync(path)) throw new UsageError(`database ${path} does not exist (use --db or DB_PATH)`);
  return checkedSchema(openReadOnly(path));
}

function checkedSchema(db: Database): Database {
  try {
    assertSchemaSupported(db);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** A flag's string value (parseArgs types values loosely when options are built from a table). */
export const stringFlag = (value: string | boolean | undefined): string | undefined => (typeof value === "string" ? value : undefined);

/** `--threads N` of the commands that read the whole store (rebuild, verify on SQLite). */
export const THREADS_OPTION = { threads: { type: "string" } } as const;
export const THREADS_HELP = `  --threads N        share the walk of the events among N threads (SQLite; default: the processors, at most
                     4, each given at least 100,000 events; 1 walks on one thread)`;
const MAX_THREADS = 64;

/** The threads asked for with --threads, or undefined for the default. */
export function parseThreads(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const threads = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(threads >= 1 && threads <= MAX_THREADS)) throw new UsageError(`--threads must be a whole number from 1 to ${MAX_THREADS}, got ${JSON.stringify(text)}`);
  return threads;
}
