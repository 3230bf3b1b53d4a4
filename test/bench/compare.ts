/**
 * Compares service commands under the same load, for judging one change: each command is started on its own
 * copy of the benchmark database and loaded in interleaved rounds (see load.ts), and the medians are printed
 * with the spread of the rounds and the server CPU per request, which on a shared machine is steadier than
 * requests per second.
 *
 *   bun test/bench/compare.ts [--concurrency 32] [--rounds 6] [--seconds 5] "BINARY [FLAGS]" "BINARY [FLAGS]" ...
 *
 * e.g. the built binary against one built from another commit, or one binary with two sets of flags:
 *   bun test/bench/compare.ts --concurrency 1 "dist/opportunity-service --no-writer-thread --group-commit-max-batch 1" dist/opportunity-service
 *
 * --postgres runs each command on a fresh PostgreSQL database of its own (TEST_DATABASE_URL's server, seeded
 * alike) instead of a SQLite copy; --instances N starts N processes of each command on its database, the
 * connections split between them (as make bench's "two instances together").
 */
import { parseArgs } from "node:util";
import { makeTempDir } from "../support/temp-dir";
import { describeCpu, measureInterleaved, prepareDatabase, serveCommand, startMode, stopModes, summary, type RunningMode } from "./load";
import { postgresDatabase } from "./postgres-database";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    concurrency: { type: "string", default: "32" },
    rounds: { type: "string", default: "6" },
    seconds: { type: "string", default: "5" },
    postgres: { type: "boolean", default: false },
    instances: { type: "string", default: "1" },
  },
});
if (positionals.length < 1) throw new Error('usage: compare.ts [--concurrency N] [--rounds N] [--seconds N] [--postgres] [--instances N] "BINARY [FLAGS]" ...');
if (!Bun.which("wrk")) throw new Error("wrk is not installed (make bench installs it from Debian's packages)");

const commands = positionals.map((text) => text.split(/\s+/).filter(Boolean));
const concurrency = Number(values.concurrency);
const dir = makeTempDir("opportunity-compare-");
const running: RunningMode[] = [];
try {
  const prepared = await prepareDatabase(commands[0]![0]!, dir.path);
  for (const [index, [binary, ...flags]] of commands.entries()) {
    const name = `${index + 1}: ${positionals[index]}`;
    const database = values.postgres ? postgresDatabase(commands[0]![0]!) : undefined;
    running.push(await startMode({ name, command: serveCommand(binary!, ...flags), database, instances: Number(values.instances) }, prepared, dir.path, concurrency));
  }
  await measureInterleaved(running, [concurrency], Number(values.rounds), values.seconds!);
  console.log("");
  for (const entry of running) {
    const result = summary(entry.rounds.get(concurrency)!);
    console.log(
      `${entry.mode.name}\n    ${Math.round(result.rps)} req/s (rounds ${Math.round(result.low)}–${Math.round(result.high)}), ` +
        `p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ${describeCpu(result, 1)}, errors ${result.errors}`,
    );
  }
} finally {
  await stopModes(running);
  dir.cleanup();
}
