import { join } from "node:path";

/** A second process writing to the same database (fixtures/writer-process.ts), started and ready. */
export interface WriterProcess {
  /** Lets it start writing. */
  go(): void;
  /** Waits for it to end: its exit code, everything it printed ("ready\ndone\n" when all went well), its errors. */
  finished(): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Kills it if it is still running (for cleanup). */
  kill(): void;
}

/**
 * Starts the writer process on `dbPath` and waits until it has opened the store: it then waits for `go()`
 * to create PREFIX-1..PREFIX-count and, after each create, change `sharedCode`'s description.
 */
export async function startWriterProcess(dbPath: string, options: { prefix: string; count: number; sharedCode: string }): Promise<WriterProcess> {
  const script = join(import.meta.dir, "fixtures", "writer-process.ts");
  const child = Bun.spawn([process.execPath, script, dbPath, options.prefix, String(options.count), options.sharedCode], {
    // From the project's root, as the tests themselves run: bunfig.toml and node_modules are found from there.
    cwd: join(import.meta.dir, "..", ".."),
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const kill = () => {
    if (child.exitCode === null) child.kill("SIGKILL");
  };
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let stdout = "";
  try {
    while (!stdout.includes("ready\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`writer process ended before it was ready: ${stdout} ${await new Response(child.stderr).text()}`);
      stdout += decoder.decode(value, { stream: true });
    }
  } catch (error) {
    kill();
    throw error;
  }
  return {
    go() {
      child.stdin.write("go\n");
      void child.stdin.end();
    },
    async finished() {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += decoder.decode(value, { stream: true });
      }
      const exitCode = await child.exited;
      return { exitCode, stdout, stderr: await new Response(child.stderr).text() };
    },
    kill,
  };
}
