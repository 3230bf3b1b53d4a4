/**
 * One config file for every command: the README's example configures `serve`, and `history`, `verify`,
 * `export`, `backup`, `import` and `rebuild` take the same file, each reading the settings it uses (db,
 * stagesFile, timeZone) and ignoring the rest (port, secretsFile, logLevel, docs, …) unchecked; an unknown key
 * still stops every one of them. In-process, on SQLite (the parsing is the same for either backend; the binary
 * is run with the same file in test/e2e/operations-config.test.ts).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { backup, BACKUP_HELP } from "../../src/cli/backup";
import { exportEvents, EXPORT_HELP } from "../../src/cli/export";
import { history, HISTORY_HELP } from "../../src/cli/history";
import { importFile, IMPORT_HELP } from "../../src/cli/import";
import { rebuild, REBUILD_HELP } from "../../src/cli/rebuild";
import { restore } from "../../src/cli/restore";
import { UsageError } from "../../src/cli/shared-options";
import { exportText } from "../../src/audit/export-events";
import { openSqliteStorage } from "../../src/storage/sqlite/storage";
import { verify, VERIFY_HELP } from "../../src/cli/verify";
import { ConfigError, SETTINGS } from "../../src/settings";
import { captureCli } from "../support/cli-output";
import { createBody, createCommand, META, Resources } from "../store/store-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

/** The README's example config, with its database beside it (a relative path: resolved against the file). */
const README_EXAMPLE = { port: 8080, db: "opportunities.db", secretsFile: "secrets.json", logLevel: "info", docs: false };

/** A config directory holding a database with one opportunity, and a config file of `content` naming it. */
async function configured(content: Record<string, unknown>): Promise<{ dir: string; config: string; db: string }> {
  const dir = join(resources.tempDir(), "conf");
  mkdirSync(dir);
  const db = join(dir, "opportunities.db");
  const service = resources.service({ path: db });
  await service.writer.execute(createCommand(createBody("CFG-1")), META);
  service.close();
  const config = join(dir, "service.json");
  writeFileSync(config, JSON.stringify(content));
  return { dir, config, db };
}

type Command = (args: string[], env: NodeJS.ProcessEnv) => Promise<number>;

/** Each command with arguments that do its work on the configured database, and what its output shows. */
const COMMANDS: [string, Command, (dir: string) => string[], (out: { stdout: string; stderr: string }) => void][] = [
  ["history", history, () => ["CFG-1"], (out) => expect(out.stdout).toStartWith("CFG-1: 1 event(s)")],
  ["verify", verify, () => [], (out) => expect(out.stdout).toStartWith("OK: 1 events, 1 opportunities")],
  // --to 0: nothing to write (export writes through Bun.stdout, not captured here), but the database is opened.
  ["export", exportEvents, () => ["--to", "0"], (out) => expect(out.stdout).toBe("")],
  ["backup", backup, (dir) => [join(dir, "copy.db")], (out) => expect(out.stdout).toContain("1 events, 1 opportunities, verified")],
  ["rebuild", rebuild, () => [], (out) => expect(out.stdout).toStartWith("rebuilt 1 opportunities from 1 events")],
  [
    "import",
    importFile,
    (dir) => {
      const file = join(dir, "more.ndjson");
      writeFileSync(file, `${JSON.stringify(createBody("CFG-2"))}\n`);
      return [file];
    },
    (out) => expect(out.stdout).toEndWith(": 1 created, 0 rejected\n"),
  ],
];

describe("every command takes serve's config file", () => {
  test.each(COMMANDS)("%s with the README's example: reads db from it, ignores port, secretsFile, logLevel and docs", async (_name, command, args, check) => {
    const { dir, config } = await configured(README_EXAMPLE);
    const result = await captureCli(() => command([...args(dir), "--config", config], {}));
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    check(result);
  });

  test.each(COMMANDS)("%s with CONFIG_FILE naming the same file", async (_name, command, args, check) => {
    const { dir, config } = await configured(README_EXAMPLE);
    const result = await captureCli(() => command(args(dir), { CONFIG_FILE: config }));
    expect(result.code).toBe(0);
    check(result);
  });

  test.each(COMMANDS)("%s with every setting serve knows in the file, the unused ones with values serve would refuse", async (_name, command, args) => {
    // Ignored means unchecked: a command that never listens is not stopped by a port serve would refuse.
    const used = ["db", "stagesFile", "timeZone"];
    const unused = Object.values(SETTINGS).filter((spec) => !used.includes(spec.key));
    expect(unused).toHaveLength(18);
    const { dir, config } = await configured({ ...Object.fromEntries(unused.map((spec) => [spec.key, "not checked here"])), db: "opportunities.db" });
    const result = await captureCli(() => command([...args(dir), "--config", config], {}));
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  test.each(COMMANDS)("%s: a setting it uses is still checked, naming the file", async (_name, command, args) => {
    const { dir, config } = await configured({ ...README_EXAMPLE, timeZone: "Mars/Olympus" });
    const run = captureCli(() => command([...args(dir), "--config", config], {}));
    await expect(run).rejects.toThrow(`invalid timeZone ("timeZone" in config file ${config}): "Mars/Olympus" is not an IANA time zone`);
    await expect(run).rejects.toBeInstanceOf(ConfigError);
  });

  test.each(COMMANDS)("%s: an unknown key is still refused, naming it and every known key", async (_name, command, args) => {
    const { dir, config } = await configured({ ...README_EXAMPLE, prot: 9000 });
    const run = captureCli(() => command([...args(dir), "--config", config], {}));
    await expect(run).rejects.toBeInstanceOf(ConfigError);
    await expect(run).rejects.toThrow(`config file ${config}: unknown setting(s) prot; known: port, host, db, secretsFile,`);
    expect(existsSync(join(dir, "copy.db"))).toBe(false);
  });

  test("a flag still beats the config file's db", async () => {
    const { config } = await configured(README_EXAMPLE);
    const other = resources.service();
    other.close();
    const result = await captureCli(() => verify(["--config", config, "--db", other.path], {}));
    expect(result.stdout).toStartWith("OK: 0 events, 0 opportunities");
  });
});

describe("--help says so", () => {
  test.each([
    ["history", HISTORY_HELP],
    ["verify", VERIFY_HELP],
    ["export", EXPORT_HELP],
    ["backup", BACKUP_HELP],
    ["rebuild", REBUILD_HELP],
    ["import", IMPORT_HELP],
  ])("%s", (_name, help) => {
    expect(help).toContain(
      "--config FILE            the JSON config file serve takes (env CONFIG_FILE): this command reads db, stagesFile, timeZone from it; " +
        "its other settings are ignored, an unknown key is an error",
    );
  });
});

describe("restore takes the file too, and never its db", () => {
  test("restores into --db NEW with the README's example; the file's db is neither read nor touched; an unknown key stops it", async () => {
    const { dir, config, db } = await configured(README_EXAMPLE);
    const exported = join(dir, "export.ndjson");
    const source = openSqliteStorage(db);
    writeFileSync(exported, await exportText(source));
    await source.close();
    const target = join(dir, "restored.db");
    const result = await captureCli(() => restore([exported, "--db", target, "--config", config], {}));
    expect(result.stdout).toStartWith("restored 1 events, 1 opportunities into");
    expect(existsSync(target)).toBe(true);
    // Without --db the config file's db is not taken as the target: the service's database is never overwritten.
    await expect(captureCli(() => restore([exported, "--config", config], {}))).rejects.toThrow("restore needs --db NEW");
    writeFileSync(config, JSON.stringify({ ...README_EXAMPLE, prot: 9000 }));
    await expect(captureCli(() => restore([exported, "--db", join(dir, "other.db"), "--config", config], {}))).rejects.toThrow("unknown setting(s) prot");
    expect(existsSync(join(dir, "other.db"))).toBe(false);
  });

  test("a --db NEW that cannot be a target is a usage error (exit 2) naming it, password masked", async () => {
    const { dir } = await configured(README_EXAMPLE);
    const exported = join(dir, "export.ndjson");
    writeFileSync(exported, "");
    const refused = (db: string) => captureCli(() => restore([exported, "--db", db], {})).then(
      () => "restored",
      (error: Error) => `${error instanceof UsageError ? "usage" : "other"}: ${error.message}`,
    );
    expect(await refused(":memory:")).toStartWith('usage: invalid --db: ":memory:" is not a file');
    expect(await refused("mysql://root:pw@db/crm")).toBe('usage: invalid --db: "mysql://root:***@db/crm" is a URL of an unsupported scheme (mysql:); give a SQLite file path');
  });
});
