import packageJson from "../package.json" with { type: "json" };
import { importFile, IMPORT_HELP } from "./cli/import";
import { serve, SERVE_HELP } from "./cli/serve";
import { UsageError } from "./cli/shared-options";

const HELP = `opportunity-service ${packageJson.version}: the CRM opportunity update interface, event-sourced on SQLite

Usage: opportunity-service <command> [options]

Commands:
  serve          run the HTTP service (PUT /api/opportunities/integration/update, docs at /swagger)
  import FILE    create opportunities in bulk from an NDJSON file

Run 'opportunity-service <command> --help' for a command's options.
  -h, --help     show this help
  -v, --version  print the version`;

const commands: Record<string, { run: (args: string[], env: NodeJS.ProcessEnv) => Promise<number>; help: string }> = {
  serve: { run: serve, help: SERVE_HELP },
  import: { run: importFile, help: IMPORT_HELP },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === "-v" || name === "--version") {
    process.stdout.write(`${packageJson.version}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`unknown command: ${name}\n\n${HELP}\n`);
    return 2;
  }
  try {
    return await command.run(rest, process.env);
  } catch (error) {
    // parseArgs reports unknown or malformed flags with a code; both are usage errors, not crashes.
    const code = (error as { code?: string }).code;
    if (error instanceof UsageError || code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`error: ${(error as Error).message}\n\n${command.help}\n`);
      return 2;
    }
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
