/**
 * A Java client beside the Node ones: a nightly batch sync written with the JDK's HttpClient (Java 17, as on
 * this machine and CI's), compiled and run against the compiled binary with demo data. It dry-runs the batch,
 * sends it with an Idempotency-Key, and retries it: the dry run writes nothing and answers what the real call
 * then answers, the retry is replayed, the Chinese messages arrive intact (UTF-8 declared), and the 64-bit id
 * sent as a Java long is stored exactly.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { E2E_TIMEOUT, startServer, stop, useBinary, type Server } from "../support/binary";
import { makeTempDir } from "../support/temp-dir";

useBinary();
const SECRET = "java-client-secret-0123456789";
const dir = makeTempDir("java-client-");
let server: Server;

beforeAll(async () => {
  const javac = Bun.spawnSync(["javac", "-d", dir.path, join(import.meta.dir, "java/NightlySync.java")]);
  if (javac.exitCode !== 0) throw new Error(`javac failed (is a JDK installed?): ${javac.stderr.toString()}`);
  server = await startServer(["--demo", "--db", join(dir.path, "demo.db")], dir.path, { INTERNAL_SECRET: SECRET });
}, E2E_TIMEOUT);
afterAll(async () => {
  if (server) await stop(server);
  dir.cleanup();
});

async function api(path: string): Promise<any> {
  return (await fetch(`${server.baseUrl}${path}`, { headers: { "X-Internal-Secret": SECRET } })).json();
}

describe("a Java 17 client's nightly batch sync", () => {
  test(
    "dry run, real call, retry: same answers, one write, replayed retry, exact 64-bit id, Chinese intact",
    async () => {
      const before = (await api("/api/events?limit=1000")).data.head.position as number;
      const java = Bun.spawnSync(["java", "-cp", dir.path, "NightlySync", server.baseUrl, SECRET]);
      expect(java.stderr.toString()).toBe("");
      const lines = java.stdout.toString().trimEnd().split("\n");
      expect(lines.length).toBe(3);
      type Answer = { status: string; dryRun: string; replayed: string; contentType: string; body: any };
      const [dry, real, retry] = lines.map((line): Answer => {
        const [status, dryRun, replayed, contentType, ...body] = line.split(" ");
        return { status: status!, dryRun: dryRun!, replayed: replayed!, contentType: contentType!, body: JSON.parse(body.join(" ")) };
      }) as [Answer, Answer, Answer];
      expect(dry).toMatchObject({ status: "200", dryRun: "dry-run=true", replayed: "replayed=-", contentType: "content-type=application/json;charset=UTF-8" });
      expect(real).toMatchObject({ status: "200", dryRun: "dry-run=-", replayed: "replayed=-" });
      expect(retry).toMatchObject({ status: "200", dryRun: "dry-run=-", replayed: "replayed=true" });
      expect(retry.body).toEqual(real.body);

      const results = real.body.data.results as { index: number; code: string; msg: string }[];
      expect(real.body).toMatchObject({ code: "0", msg: "success", data: { succeeded: 1, failed: 2 } });
      expect(results.map((result) => [result.index, result.code, result.msg])).toEqual([
        [0, "0", "success"],
        [1, "-1", "商机不存在"],
        [2, "-1", "项目把握度仅支持A、B、C"],
      ]);
      // The dry run answered the same code and msg per item, and wrote nothing: one write happened, the real one.
      expect((dry.body.data.results as { code: string; msg: string }[]).map((result) => [result.code, result.msg])).toEqual(results.map((result) => [result.code, result.msg]));
      expect((await api("/api/events?limit=1000")).data.head.position).toBe(before + 1);

      const text = await (await fetch(`${server.baseUrl}/api/opportunities/OPP-20260401-001`, { headers: { "X-Internal-Secret": SECRET } })).text();
      expect(text).toContain('"salesExpansionId":1790000000000000001');
      expect(text).toContain('"stage":"won"');
    },
    E2E_TIMEOUT,
  );
});
