/**
 * The HTTP ceiling for `make bench`: the real Elysia app (authentication, JSON body reader, validation,
 * envelope) with a stand-in writer that answers at once, so no database work is done. What the service
 * reaches relative to this is what the database path costs.
 */
import { openServiceStore } from "../../src/service-store";
import { createApp } from "../../src/http/app";
import { SecretVerifier } from "../../src/secrets";
import { DEFAULT_STAGES, StageDictionary } from "../../src/stage-dictionary";
import type { WriteEntry } from "../../src/http/opportunity-routes";
import { KeyRetention } from "../../src/idempotency";

const [port, dbPath, secret] = [Number(process.argv[2]), process.argv[3]!, process.argv[4]!];
// A real store for the read side's types; the write path below never touches it.
const service = openServiceStore(dbPath);
const stand_in: WriteEntry = {
  execute: async () => ({ ok: true, id: 1, version: 1, events: [] }),
  // Each item answered at once as a success that changed nothing.
  executeBatch: async (batch) => ({
    ok: true,
    batch: { allOrNone: batch.allOrNone, failedIndex: null, items: batch.items.map((_, index) => ({ index, opportunityCode: null, result: { ok: true, id: 1, version: 1, events: [] }, appended: 0 })) },
  }),
  retention: new KeyRetention(),
};
const verifier = new SecretVerifier([{ name: "bench", secret, role: "integrator" }]);
const stages = new StageDictionary(DEFAULT_STAGES);
const app = createApp({
  writer: stand_in,
  storage: service.storage,
  verifier: () => verifier,
  stages: () => stages,
  timeZone: "Asia/Shanghai",
  version: "bench",
});
const server = Bun.serve({ port, hostname: "127.0.0.1", fetch: (request) => app.handle(request) });
// A throwaway bench server: nothing to drain, so a stop is immediate.
process.on("SIGTERM", () => {
  void server.stop(true);
  service.close();
  process.exit(0);
});
