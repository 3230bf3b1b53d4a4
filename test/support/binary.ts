import { afterAll, beforeAll } from "bun:test";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import packageJson from "../../package.json" with { type: "json" };

/**
 * The compiled binary for end-to-end tests, run from directories with no node_modules, as an operator would.
 * `make test` builds it once from the current sources for every file (E2E_BINARY, in a temp dir it removes
 * afterwards): some twenty files each building their own cost a minute of the run's CPU. A file run on its own
 * builds one into a temp dir for itself when `useBinary()` is called, removed after it.
 */
const root = resolve(import.meta.dir, "../..");
const shared = process.env.E2E_BINARY;
const buildDir = join(tmpdir(), `opportunity-binary-${process.pid}`);
export const binary = shared ? resolve(shared) : join(buildDir, "opportunity-service");
// Builds and processes start here: generous on a shared 2-core machine; a hang guard, not a speed check.
export const E2E_TIMEOUT = 60_000;

const running = new Set<Bun.Subprocess>();

/** Builds the binary before the file's tests (unless shared); kills what they left running and removes the build after. */
export function useBinary(): void {
  beforeAll(shared ? checkShared : buildBinary, E2E_TIMEOUT);
  afterAll(async () => {
    for (const child of running) child.kill("SIGKILL");
    await Promise.all([...running].map((child) => child.exited));
    if (!shared) rmSync(buildDir, { recursive: true, force: true });
  });
}

function checkShared(): void {
  if (!existsSync(binary)) throw new Error(`E2E_BINARY is set, but there is no binary at ${binary}`);
}

async function buildBinary(): Promise<void> {
  mkdirSync(buildDir, { recursive: true });
  // The release build's own command (package.json "compile": minify, bytecode, no .env/bunfig autoload), run
  // by the Bun running the tests.
  const [, ...flags] = packageJson.scripts.compile.split(/\s+/);
  const build = Bun.spawn([process.execPath, ...flags, "--define", 'BUILD_COMMIT_DEFINE="e2e-test"', "--outfile", binary], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
  });
  if ((await build.exited) !== 0) throw new Error(`build failed: ${await new Response(build.stderr).text()}`);
}

/** Runs one command of the binary to completion. */
export async function run(args: string[], cwd: string, env: Record<string, string> = {}) {
  const child = Bun.spawn([binary, ...args], { cwd, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "", ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { stdout, stderr, code };
}

export interface Server {
  child: Bun.Subprocess<"ignore", "pipe", "pipe">;
  baseUrl: string;
  output: () => string;
}

/** Starts `serve --port 0` and waits for its "listening" log line, which names the port it got. */
export async function startServer(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Server> {
  const child = Bun.spawn([binary, "serve", "--port", "0", "--host", "127.0.0.1", ...args], {
    cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", ...env },
  });
  running.add(child);
  void child.exited.then(() => running.delete(child));
  let text = "";
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const match = /"msg":"listening","url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(text);
    if (match) {
      // Keep draining stdout so the child never blocks on a full pipe.
      void (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          text += decoder.decode(value);
        }
      })();
      return { child, baseUrl: `http://127.0.0.1:${match[1]}`, output: () => text };
    }
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  child.kill("SIGKILL");
  throw new Error(`server did not start:\n${text}\n${await new Response(child.stderr).text()}`);
}

/** SIGTERM, then the exit code. */
export async function stop(server: Server): Promise<number> {
  server.child.kill("SIGTERM");
  return server.child.exited;
}

/** A "memory" log line of `serve` (SIGUSR2): bytes right after a full garbage collection, and just before it. */
export interface MemoryAfterGc {
  rss: number;
  heapUsed: number;
  external: number;
  rssBefore: number;
  heapUsedBefore: number;
}

/**
 * The server's memory after a full garbage collection: sends SIGUSR2 and waits for the next "memory" line. RSS
 * sampled without one also counts garbage not yet collected, which a CPU-starved server collects late.
 */
export async function memoryAfterGc(server: Server, timeoutMs = 10_000): Promise<MemoryAfterGc> {
  // Whole lines only: what follows the last newline may still be arriving.
  const memoryLines = () => server.output().split("\n").slice(0, -1).filter((line) => line.startsWith("{") && line.includes('"msg":"memory"'));
  const seen = memoryLines().length;
  server.child.kill("SIGUSR2");
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const lines = memoryLines();
    if (lines.length > seen) return JSON.parse(lines[seen]!) as MemoryAfterGc;
    if (performance.now() > deadline) throw new Error(`no memory line within ${timeoutMs} ms of SIGUSR2:\n${server.output().slice(-2000)}`);
    await Bun.sleep(10);
  }
}
