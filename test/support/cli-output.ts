/**
 * Runs a CLI command's function in this process with stdout and stderr captured as text (for commands that
 * write through process.stdout/stderr.write), so its human-readable output can be checked without a binary.
 */
export async function captureCli(work: () => Promise<number>): Promise<{ code: number; stdout: string; stderr: string }> {
  const decoder = new TextDecoder();
  const captured = { stdout: "", stderr: "" };
  const originals = { stdout: process.stdout.write, stderr: process.stderr.write };
  for (const stream of ["stdout", "stderr"] as const) {
    process[stream].write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      captured[stream] += typeof chunk === "string" ? chunk : decoder.decode(chunk);
      (rest.find((arg) => typeof arg === "function") as (() => void) | undefined)?.();
      return true;
    }) as typeof process.stdout.write;
  }
  try {
    const code = await work();
    return { code, ...captured };
  } finally {
    process.stdout.write = originals.stdout;
    process.stderr.write = originals.stderr;
  }
}
