/**
 * The writer thread's floor, for `make bench`: the SQL a group-commit batch runs and nothing else. For each
 * update, one event row inserted (with the same indexes) and one projection row updated; per batch, BEGIN
 * IMMEDIATE and COMMIT with synchronous=FULL. No planning, hashing, messages or idempotency. Its CPU per event
 * (user + system: the WAL write and fsync are system time) is what no change to our code can go below while
 * the schema and the durability stay as they are.
 */
import { join } from "node:path";
import { openSqliteStorage } from "../../src/storage/sqlite/storage";
import { makeTempDir } from "../support/temp-dir";

const OPPORTUNITIES = 1000;
const WARM_UP_BATCHES = 200;
const BATCHES = 2000;
const DATA = '{"changes":{"amount":1234567,"stage":"negotiation"},"previous":{"amount":100000,"stage":"lead"}}';
const METADATA = '{"actor":"oms","requestId":"01JBZ8Q3W5RBX4T2M6N7P8Q9RS"}';
const HASH = "a".repeat(64);

/** CPU per event (µs, user + system) of batches of `batchSize` updates, and the wall time per commit. */
export function writerFloor(batchSize: number): { cpuPerEventUs: number; wallPerCommitUs: number } {
  const dir = makeTempDir("opportunity-bench-floor-");
  const storage = openSqliteStorage(join(dir.path, "floor.db"));
  try {
    const { db } = storage;
    const create = db.prepare(
      "INSERT INTO opportunities (id, code, end_customer_name, version, created_at, updated_at, opportunity_name, stage) VALUES (?, ?, '客户', 1, ?, ?, '商机', 'lead')",
    );
    const now = new Date().toISOString();
    db.transaction(() => {
      for (let id = 1; id <= OPPORTUNITIES; id++) create.run(id, `OPP-${id}`, now, now);
    })();
    const insert = db.prepare(
      "INSERT INTO events (position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at, prev_hash, hash) VALUES (?, ?, ?, ?, 'OpportunityUpdated', 1, ?, ?, ?, ?, ?)",
    );
    const update = db.prepare("UPDATE opportunities SET amount = ?1, stage = ?2, version = ?3, updated_at = ?4 WHERE code = ?5");
    const versions = new Array<number>(OPPORTUNITIES + 1).fill(1);
    let position = 0;
    const batch = () => {
      db.run("BEGIN IMMEDIATE");
      for (let n = 0; n < batchSize; n++) {
        const id = 1 + ((position * 7919) % OPPORTUNITIES);
        const version = ++versions[id]!;
        position += 1;
        const at = new Date().toISOString();
        insert.run(position, `01JBZ8Q3W5RBX4T2M${String(position).padStart(9, "0")}`, `OPP-${id}`, version - 1, DATA, METADATA, at, HASH, HASH);
        update.run(position, "negotiation", version, at, `OPP-${id}`);
      }
      db.run("COMMIT");
    };
    for (let n = 0; n < WARM_UP_BATCHES; n++) batch();
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let n = 0; n < BATCHES; n++) batch();
    const used = process.cpuUsage(cpu);
    const wallUs = (performance.now() - started) * 1000;
    for (const statement of [create, insert, update]) statement.finalize();
    return { cpuPerEventUs: (used.user + used.system) / (BATCHES * batchSize), wallPerCommitUs: wallUs / BATCHES };
  } finally {
    storage.closeNow();
    dir.cleanup();
  }
}

if (import.meta.main) {
  for (const size of [1, 12, 45]) {
    const floor = writerFloor(size);
    console.log(`batch ${size}: ${floor.cpuPerEventUs.toFixed(1)} µs CPU per event, ${floor.wallPerCommitUs.toFixed(0)} µs per commit`);
  }
}
