/**
 * Benchmark (not a test): rebuild and verify throughput over a generated store of 1,000,000 events on
 * 10,000 opportunities, reported in events per second. Run with `make bench`; sizes can be lowered with
 * BENCH_EVENTS / BENCH_OPPORTUNITIES for a quick look.
 */
import { join } from "node:path";
import { statSync } from "node:fs";
import { monotonicFactory } from "ulid";
import { appendToChain, type ChainEnd } from "../../events/append";
import { GENESIS_HASH } from "../../events/hash-chain";
import { SCHEMA_VERSIONS } from "../../events/opportunity-events";
import { prepareEventInsert } from "../../src/storage/sqlite/batch-commit";
import { mapForWholeStoreRead, openDatabase } from "../../src/storage/sqlite/database";
import { createEventTable } from "../../src/storage/sqlite/schema";
import { evolve, type Opportunity } from "../../projections/opportunity-state";
import { rebuildOpportunities } from "../../src/storage/sqlite/projection-rebuild";
import { verifyStore } from "../../src/audit/verify-store";
import type { OpportunityCommand } from "../../src/commands";
import { decide } from "../../src/decide";
import { makeTempDir } from "../support/temp-dir";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const OPPORTUNITIES = Number(process.env.BENCH_OPPORTUNITIES ?? 10_000);
const BATCH = 10_000;
const REBUILD_RUNS = 3;
const STAGES = ["lead", "initial_contact", "requirement_confirmed", "solution", "bidding", "negotiation", "won", "lost"];

// A fixed-seed generator so every run builds the same store.
let seed = 42;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;

function nextCommand(index: number, states: Map<string, Opportunity>): OpportunityCommand {
  const code = `OPP-${String(index % OPPORTUNITIES).padStart(6, "0")}`;
  if (!states.has(code)) {
    return { type: "CreateOpportunity", opportunityCode: code, endCustomerName: `客户 ${index % 977}`, fields: { opportunityName: `商机 ${code}`, stage: "lead", amount: 100_000 } };
  }
  const fields: OpportunityCommand["fields"] = { stage: pick(STAGES), amount: Math.round(random() * 10_000_000) + 1 };
  if (random() < 0.3) fields.description = `第 ${index} 次回写`;
  if (random() < 0.1) fields.salesExpansionId = 1_790_000_000_000_000_000n + BigInt(index);
  return { type: "UpdateOpportunity", opportunityCode: code, fields };
}

/** Writes a store of `EVENTS` events over `OPPORTUNITIES` opportunities at `path` (no projection). */
export function generate(path: string): number {
  const db = openDatabase(path);
  // Generation appends the event rows alone; the projection is what `rebuild` then builds and is timed on.
  createEventTable(db);
  const insert = prepareEventInsert(db);
  const identity = { nextEventId: monotonicFactory(), schemaVersionOf: (type: string) => SCHEMA_VERSIONS[type as keyof typeof SCHEMA_VERSIONS] ?? 1 };
  const states = new Map<string, Opportunity>();
  let head: ChainEnd = { position: 0, hash: GENESIS_HASH };
  let written = 0;
  let index = 0;
  const writeBatch = db.transaction(() => {
    const recordedAt = new Date().toISOString();
    for (let n = 0; n < BATCH && written < EVENTS; n++, index++) {
      const command = nextCommand(index, states);
      const state = states.get(command.opportunityCode) ?? null;
      const decision = decide(command, state, { nextId: states.size + 1 });
      if (!decision.ok || decision.events.length === 0) continue;
      const metadata = { actor: "bench", requestId: `bench-${index}` };
      const { rows, events } = appendToChain(head, command.opportunityCode, state?.version ?? 0, decision.events, metadata, recordedAt, identity);
      for (const row of rows) insert.run(row);
      head = { position: rows.at(-1)!.position, hash: rows.at(-1)!.hash };
      states.set(command.opportunityCode, evolve(state, events[0]!)!);
      written += 1;
    }
  });
  while (written < EVENTS) writeBatch.immediate();
  insert.finalize();
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  return written;
}

const rate = (count: number, ms: number) => Math.round(count / (ms / 1000));

/** Generates the store, then times rebuild and verify over it; returns events/s for each. */
export function rebuildAndVerify(log: (line: string) => void = console.log): { events: number; rebuildPerSecond: number; verifyPerSecond: number; dbPath: string; cleanup: () => void } {
  const dir = makeTempDir("opportunity-bench-");
  const path = join(dir.path, "bench.db");
  let started = performance.now();
  const events = generate(path);
  const generateMs = performance.now() - started;
  log(`generated ${events} events over ${OPPORTUNITIES} opportunities in ${(generateMs / 1000).toFixed(1)} s (${rate(events, generateMs)} events/s through decide + append); database ${(statSync(path).size / 1048576).toFixed(0)} MiB`);

  const db = openDatabase(path);
  // As the rebuild and verify commands read it (src/cli/rebuild.ts, verify.ts).
  mapForWholeStoreRead(db);
  // One timing is one sample of a machine whose speed drifts: rebuild (which starts over each time) three
  // times and take the median, as the HTTP figures are medians of rounds.
  const runs: { ms: number; events: number; opportunities: number }[] = [];
  for (let run = 0; run < REBUILD_RUNS; run++) {
    started = performance.now();
    const rebuilt = rebuildOpportunities(db);
    runs.push({ ms: performance.now() - started, ...rebuilt });
  }
  const rebuilt = [...runs].sort((a, b) => a.ms - b.ms)[Math.floor(runs.length / 2)]!;
  const rebuildMs = rebuilt.ms;
  log(
    `rebuild: ${rebuilt.events} events -> ${rebuilt.opportunities} opportunities, median of ${runs.length} runs ${(rebuildMs / 1000).toFixed(2)} s = ` +
      `${rate(rebuilt.events, rebuildMs)} events/s (runs: ${runs.map((entry) => rate(entry.events, entry.ms)).join(", ")} events/s; target >= 600000)`,
  );

  started = performance.now();
  const report = db.transaction(() => verifyStore(db))();
  const verifyMs = performance.now() - started;
  if (!report.ok) throw new Error(`verify failed: ${JSON.stringify(report.problem)}`);
  log(`verify: ${report.events} events in ${(verifyMs / 1000).toFixed(2)} s = ${rate(report.events, verifyMs)} events/s (chain + previous values + projection)`);
  log(`ratio: rebuild is ${(verifyMs / rebuildMs).toFixed(2)}x as fast as verify`);
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  return { events, rebuildPerSecond: rate(rebuilt.events, rebuildMs), verifyPerSecond: rate(report.events, verifyMs), dbPath: path, cleanup: dir.cleanup };
}

if (import.meta.main) rebuildAndVerify().cleanup();
