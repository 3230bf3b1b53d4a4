import { existsSync } from "node:fs";
import { assertTimeZone } from "../zoned-time";

/** Options every command that touches a database shares, with the environment variable behind each. */
export const DEFAULT_DB_PATH = "./data/opportunities.db";
export const DEFAULT_TIME_ZONE = "Asia/Shanghai";

export const DATABASE_OPTIONS = {
  db: { type: "string" },
  stages: { type: "string" },
  "time-zone": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const DATABASE_HELP = `  --db PATH          database file (env DB_PATH, default ${DEFAULT_DB_PATH})
  --stages FILE      stage dictionary JSON [{"code","label"}] replacing the built-in one (env STAGES_FILE)
  --time-zone ZONE   IANA zone for omsPushTime without an offset and for answers (env TIME_ZONE, default ${DEFAULT_TIME_ZONE})`;

export class UsageError extends Error {}

export interface DatabaseSettings {
  dbPath: string;
  stagesFile: string | undefined;
  timeZone: string;
}

const nonEmpty = (value: string | undefined) => (value === undefined || value === "" ? undefined : value);

/** Flags win over environment variables, which win over defaults. */
export function databaseSettings(values: { db?: string; stages?: string; "time-zone"?: string }, env: NodeJS.ProcessEnv): DatabaseSettings {
  const timeZone = nonEmpty(values["time-zone"]) ?? nonEmpty(env.TIME_ZONE) ?? DEFAULT_TIME_ZONE;
  try {
    assertTimeZone(timeZone);
  } catch {
    throw new UsageError(`invalid --time-zone / TIME_ZONE: ${timeZone} is not an IANA time zone (e.g. Asia/Shanghai)`);
  }
  return {
    dbPath: nonEmpty(values.db) ?? nonEmpty(env.DB_PATH) ?? DEFAULT_DB_PATH,
    stagesFile: nonEmpty(values.stages) ?? nonEmpty(env.STAGES_FILE),
    timeZone,
  };
}

/** For commands that read an existing store: a missing file is a mistake, not a new empty database. */
export function assertDatabaseExists(path: string): void {
  if (!existsSync(path)) throw new UsageError(`database ${path} does not exist (use --db or DB_PATH)`);
}
