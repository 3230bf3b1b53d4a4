import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { memoryAfterGc, run, startServer, stop, useBinary } from "../support/binary";
import { makeTempDir } from "../support/temp-dir";

// Issue "Nothing lost", soak: 20,000 updates from 64 concurrent keep-alive clients over 1,000 opportunities,
// against the compiled binary. Every answer must be a success, every update must be exactly one event, the
// projection must equal a fresh fold of the events, and the process's memory must level off: its RSS does not
// climb through the run, and after a full garbage collection its heap holds nothing of the updates.

const SECRET = "soak-secret-0123456789abcdef";
const OPPORTUNITIES = 1_000;
const UPDATES = 20_000;
const CLIENTS = 64;
// A hang guard, not a speed check.
const TEST_TIMEOUT = 240_000;
const RSS_SAMPLE_MS = 50;
/**
 * How much the heap may hold after the updates, after a full GC, beyond what it held after the creates: caches
 * warming (compiled code, statements). A leak of 500 bytes per update would be 9.5 MiB.
 */
const HEAP_GROWTH_MIB = 8;

const dir = makeTempDir("opportunity-e2e-soak-");
const dbPath = join(dir.path, "soak.db");
const secretsPath = join(dir.path, "secrets.json");
writeFileSync(secretsPath, JSON.stringify([{ name: "oms", secret: SECRET }]));

useBinary();
afterAll(() => dir.cleanup());

const codeOf = (index: number) => `SOAK-${String(index).padStart(4, "0")}`;
// Create amounts are far from the update amounts (1..UPDATES), so every update really changes the amount.
const createAmountOf = (index: number) => 10_000_000 + index;

/** VmRSS of a process in KiB, or null once it is gone. */
function rssKiB(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

const peak = (samples: number[]) => samples.reduce((max, value) => Math.max(max, value), 0);

describe("soak", () => {
  test(
    `${UPDATES} updates from ${CLIENTS} concurrent clients over ${OPPORTUNITIES} opportunities: no failure, one event each, memory levels off`,
    async () => {
      // A short shutdown timeout keeps the stop quick (the default is 10 s).
      const server = await startServer(["--db", dbPath, "--secrets", secretsPath, "--shutdown-timeout", "1000"], dir.path);
      const pid = server.child.pid;
      const headers = { "content-type": "application/json", "x-internal-secret": SECRET };
      const failures: string[] = [];
      let failed = 0;
      const note = (what: string) => {
        failed += 1;
        if (failures.length < 10) failures.push(what);
      };

      async function write(method: "POST" | "PUT", path: string, body: Record<string, unknown>): Promise<boolean> {
        try {
          const response = await fetch(`${server.baseUrl}${path}`, { method, headers, body: JSON.stringify(body) });
          const text = await response.text();
          if (response.status === 200 && (JSON.parse(text) as { code: string }).code === "0") return true;
          note(`${method} ${body.opportunityCode}: HTTP ${response.status} ${text}`);
        } catch (error) {
          note(`${method} ${body.opportunityCode}: ${(error as Error).message}`);
        }
        return false;
      }

      // The opportunities first, by the same 64 clients.
      let nextCreate = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          for (let index = nextCreate++; index < OPPORTUNITIES; index = nextCreate++) {
            await write("POST", "/api/opportunities/integration/create", {
              opportunityCode: codeOf(index),
              opportunityName: `压测商机 ${index}`,
              endCustomerName: "压测客户",
              amount: createAmountOf(index),
            });
          }
        }),
      );
      expect({ failed, failures }).toEqual({ failed: 0, failures: [] });
      const heapBefore = (await memoryAfterGc(server)).heapUsed;

      // Client c alone updates the opportunities whose index is c modulo 64, one request after the other, so the
      // last amount it was answered for is the one each of them must end with.
      const lastAcked = Array.from({ length: OPPORTUNITIES }, (_, index) => createAmountOf(index));
      const updatesOf = new Array<number>(OPPORTUNITIES).fill(0);
      const samples: number[] = [];
      const sampler = setInterval(() => {
        const rss = rssKiB(pid);
        if (rss !== null) samples.push(rss);
      }, RSS_SAMPLE_MS);
      let nextUpdate = 0;
      let succeeded = 0;
      const started = performance.now();
      try {
        await Promise.all(
          Array.from({ length: CLIENTS }, async (_, client) => {
            const owned = Array.from({ length: Math.ceil((OPPORTUNITIES - client) / CLIENTS) }, (_, k) => client + k * CLIENTS);
            let turn = 0;
            for (let index = nextUpdate++; index < UPDATES; index = nextUpdate++) {
              const opportunity = owned[turn++ % owned.length]!;
              const amount = index + 1;
              if (await write("PUT", "/api/opportunities/integration/update", { opportunityCode: codeOf(opportunity), amount })) {
                succeeded += 1;
                lastAcked[opportunity] = amount;
                updatesOf[opportunity]! += 1;
              }
            }
          }),
        );
      } finally {
        clearInterval(sampler);
      }
      const seconds = (performance.now() - started) / 1000;
      const heapAfter = (await memoryAfterGc(server)).heapUsed;
      const third = Math.floor(samples.length / 3);
      const middlePeak = peak(samples.slice(third, 2 * third));
      const lastPeak = peak(samples.slice(2 * third));
      console.log(
        `soak: ${UPDATES} updates in ${seconds.toFixed(1)} s = ${Math.round(UPDATES / seconds)} requests/s from ${CLIENTS} clients; ` +
          `peak RSS ${(peak(samples) / 1024).toFixed(1)} MiB (middle third ${(middlePeak / 1024).toFixed(1)} MiB, last third ${(lastPeak / 1024).toFixed(1)} MiB, ${samples.length} samples); ` +
          `heap after a full GC ${(heapBefore / 1048576).toFixed(1)} MiB after the creates, ${(heapAfter / 1048576).toFixed(1)} MiB after the updates`,
      );

      expect({ failed, failures, succeeded }).toEqual({ failed: 0, failures: [], succeeded: UPDATES });
      // Memory levels off: the last third of the run does not climb far above the middle third.
      expect(samples.length).toBeGreaterThanOrEqual(9);
      expect(lastPeak).toBeLessThan(middlePeak * 1.5);
      // And what the server holds once its garbage is collected did not grow with the updates.
      expect((heapAfter - heapBefore) / 1048576).toBeLessThan(HEAP_GROWTH_MIB);

      expect(await stop(server)).toBe(0);
      const verified = await run(["verify", "--db", dbPath], dir.path);
      expect({ code: verified.code, stderr: verified.stderr }).toEqual({ code: 0, stderr: "" });
      expect(verified.stdout).toStartWith(`OK: ${OPPORTUNITIES + UPDATES} events, ${OPPORTUNITIES} opportunities;`);

      const dump = () => {
        const db = new Database(dbPath, { readonly: true });
        try {
          const span = db.query<{ n: number; hi: number }, []>("SELECT COUNT(*) AS n, MAX(position) AS hi FROM events").get()!;
          const types = db.query<{ type: string; n: number }, []>("SELECT type, COUNT(*) AS n FROM events GROUP BY type ORDER BY type").all();
          const rows = db.query<Record<string, unknown>, []>("SELECT * FROM opportunities ORDER BY id").all();
          return { span, types, rows };
        } finally {
          db.close();
        }
      };
      const before = dump();
      // Exactly one event per create and per update (every update changed the amount), positions without a gap.
      expect(before.span).toEqual({ n: OPPORTUNITIES + UPDATES, hi: OPPORTUNITIES + UPDATES });
      expect(before.types).toEqual([
        { type: "OpportunityCreated", n: OPPORTUNITIES },
        { type: "OpportunityUpdated", n: UPDATES },
      ]);
      // Each opportunity ends with the last amount its client was answered for, one version per event.
      const projected = [...before.rows].sort((a, b) => String(a.code).localeCompare(String(b.code))).map((row) => ({ code: row.code, amount: row.amount, version: row.version }));
      expect(projected).toEqual(lastAcked.map((amount, index) => ({ code: codeOf(index), amount, version: 1 + updatesOf[index]! })));

      // The projection equals a rebuild from the events alone.
      const rebuilt = await run(["rebuild", "--db", dbPath], dir.path);
      expect(rebuilt.code).toBe(0);
      expect(rebuilt.stdout).toStartWith(`rebuilt ${OPPORTUNITIES} opportunities from ${OPPORTUNITIES + UPDATES} events`);
      expect(dump().rows).toEqual(before.rows);
    },
    TEST_TIMEOUT,
  );
});
