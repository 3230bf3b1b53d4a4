import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatHead } from "../../events/verify-chain";
import { HASH_EXAMPLE_ROW } from "../../src/http/openapi-events";
import { CREATE_PATH, call, expectSuccess, update } from "../http/http-client";
import { makeTempDir, type TempDir } from "../support/temp-dir";
import { AUDITOR_SECRET, startBackendService, type BackendService } from "../support/test-service";

// docs/verify_chain.py, the auditor's verifier in Python's standard library, run against a feed this test makes:
// served over a real socket (it follows nextAfter) and saved to files (tampered ones too). It must report the
// head the service reports, and the first bad position when an event was altered or removed. On both backends.

const ROOT = join(import.meta.dir, "../..");
const SCRIPT = join(ROOT, "docs/verify_chain.py");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

// The machine's environment (pyenv and the like need theirs) without any INTERNAL_SECRET of its own.
const { INTERNAL_SECRET: _ignored, ...inherited } = process.env;

/**
 * The interpreter `python3` on PATH runs, asked once and then run directly: where `python3` is a version
 * manager's shim (pyenv's is a shell script that runs several commands to pick the version) the shim alone
 * took about 0.4 s a run, more than the verifier itself, and these tests run it a dozen times.
 */
async function pythonExecutable(): Promise<string> {
  const child = Bun.spawn(["python3", "-c", "import sys; print(sys.executable)"], { cwd: ROOT, env: inherited, stdout: "pipe", stderr: "inherit" });
  const [stdout, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  const executable = stdout.trim();
  return code === 0 && executable !== "" ? executable : "python3";
}
let python: Promise<string> | undefined;

async function runVerifier(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = Bun.spawn([await (python ??= pythonExecutable()), SCRIPT, ...args], {
    cwd: ROOT,
    env: { ...inherited, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

let service: BackendService;
let server: ReturnType<typeof Bun.serve>;
let dir: TempDir;
let baseUrl: string;

beforeAll(async () => {
  dir = makeTempDir("verify-chain-py-");
  service = await startBackendService();
  // An ID beyond 2^53 (as a raw JSON number), Chinese text with a quote and a line feed, a cleared field.
  expectSuccess(
    await call(service, "POST", CREATE_PATH, {
      rawBody: '{"opportunityCode":"PY-A","opportunityName":"园区\\"安防\\"项目","endCustomerName":"某市公安局","salesExpansionId":9223372036854775807,"description":"第一行\\n第二行"}',
    }),
  );
  expectSuccess(await call(service, "POST", CREATE_PATH, { body: { opportunityCode: "PY-B", opportunityName: "第二个", endCustomerName: "某局", amount: 9.5 } }));
  expectSuccess(await update(service, { opportunityCode: "PY-A", description: "" }));
  expectSuccess(await update(service, { opportunityCode: "PY-B", preSalesId: "9007199254740993", stage: "赢单" }));
  expectSuccess(await update(service, { opportunityCode: "PY-A", amount: 2800000 }));
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => service.app.handle(request) });
  baseUrl = `http://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  server?.stop(true);
  await service?.dispose();
  dir?.cleanup();
});

/** The service's own head, as `verify` prints it. */
async function serviceHead(): Promise<string> {
  return formatHead(await service.storage.head());
}

/** Every page of the stored feed, as saved answers (the envelope as served), `limit` events a page. */
async function savedPages(limit: number): Promise<{ code: string; data: { events: Record<string, unknown>[]; nextAfter: number | null } }[]> {
  const pages = [];
  let after: number | null = 0;
  while (after !== null) {
    const answer = await call(service, "GET", `/api/events?format=stored&after=${after}&limit=${limit}`);
    expectSuccess(answer);
    const page = JSON.parse(answer.text);
    pages.push(page);
    after = page.data.nextAfter;
  }
  return pages;
}

function saveFile(name: string, value: unknown): string {
  const path = join(dir.path, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

describe("against the running service", () => {
  test("follows nextAfter over every page and reports the service's head (secret from INTERNAL_SECRET)", async () => {
    const head = await serviceHead();
    expect(head).toStartWith("5:");
    const run = await runVerifier([baseUrl, "--page-size", "2"], { INTERNAL_SECRET: AUDITOR_SECRET });
    expect(run).toEqual({ code: 0, stdout: `OK: 5 events\nhead ${head}\n`, stderr: "" });
    const feedHead = (await call(service, "GET", "/api/events?format=stored&limit=1")).json.data as { head: { position: number; hash: string } };
    expect(`${feedHead.head.position}:${feedHead.head.hash}`).toBe(head);
  });

  test("--expect-head: the kept head passes, a head the chain does not hold fails with exit 1", async () => {
    const head = await serviceHead();
    expect((await runVerifier([baseUrl, "--secret", AUDITOR_SECRET, "--expect-head", head])).code).toBe(0);
    const forged = `5:${"a".repeat(64)}`;
    const run = await runVerifier([baseUrl, "--secret", AUDITOR_SECRET, "--expect-head", forged]);
    expect(run.code).toBe(1);
    expect(run.stdout).toStartWith("FAILED at position 5: ");
    const beyond = await runVerifier([baseUrl, "--secret", AUDITOR_SECRET, "--expect-head", `9:${"b".repeat(64)}`]);
    expect(beyond.code).toBe(1);
    expect(beyond.stdout).toStartWith("FAILED at position 9: ");
  });

  test("a wrong secret is exit 2 (the feed could not be read), not a verdict on the chain", async () => {
    const run = await runVerifier([baseUrl, "--secret", "wrong-secret-0123456789abcdef"]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("401");
  });
});

describe("against saved answers", () => {
  test("the saved pages, one file each or one array, give the same head", async () => {
    const head = await serviceHead();
    const pages = await savedPages(2);
    expect(pages.length).toBe(3);
    const files = pages.map((page, index) => saveFile(`page-${index + 1}.json`, page));
    expect(await runVerifier(files)).toEqual({ code: 0, stdout: `OK: 5 events\nhead ${head}\n`, stderr: "" });
    expect((await runVerifier([saveFile("all.json", pages)])).stdout).toBe(`OK: 5 events\nhead ${head}\n`);
  });

  test("an altered event is reported at its position with exit 1", async () => {
    const pages = await savedPages(1000);
    const events = pages[0]!.data.events;
    const third = events[2]!;
    // The stored text of position 3 with one character changed; its hash and every link left as they were.
    expect(third.position).toBe(3);
    const stored = third.data as string;
    third.data = stored.replace("第一行", "第1行");
    expect(third.data).not.toBe(stored);
    const run = await runVerifier([saveFile("altered.json", pages)]);
    expect(run).toEqual({ code: 1, stdout: "FAILED at position 3: hash does not match the event's columns (the event was altered)\n", stderr: "" });
  });

  test("a 64-bit ID rewritten as a rounded double is caught: the stored text is what counts", async () => {
    const pages = await savedPages(1000);
    const first = pages[0]!.data.events[0]!;
    expect(first.data as string).toContain('"salesExpansionId":9223372036854775807');
    first.data = (first.data as string).replace("9223372036854775807", "9223372036854775808");
    const run = await runVerifier([saveFile("rounded.json", pages)]);
    expect(run.code).toBe(1);
    expect(run.stdout).toStartWith("FAILED at position 1: hash does not match");
  });

  test("a removed event is reported where the chain breaks", async () => {
    const pages = await savedPages(1000);
    pages[0]!.data.events.splice(3, 1);
    const run = await runVerifier([saveFile("removed.json", pages)]);
    expect(run.code).toBe(1);
    expect(run.stdout).toStartWith("FAILED at position 4: ");
  });

  test("the README's worked example verifies to its published head", async () => {
    const answer = { code: "0", msg: "success", data: { events: [HASH_EXAMPLE_ROW], nextAfter: null, head: { position: 1, hash: HASH_EXAMPLE_ROW.hash } } };
    expect(await runVerifier([saveFile("readme-example.json", answer)])).toEqual({ code: 0, stdout: `OK: 1 events\nhead 1:${HASH_EXAMPLE_ROW.hash}\n`, stderr: "" });
  });

  test("an empty store's feed is intact, with the genesis head verify prints", async () => {
    const answer = { code: "0", msg: "success", data: { events: [], nextAfter: null, head: null } };
    expect((await runVerifier([saveFile("empty.json", answer)])).stdout).toBe(`OK: 0 events\nhead ${formatHead(null)}\n`);
  });
});
