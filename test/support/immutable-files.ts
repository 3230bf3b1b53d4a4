import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "./temp-dir";

const chattr = (flag: "+i" | "-i", file: string) => {
  const result = Bun.spawnSync(["chattr", flag, file], { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, output: `${result.stdout.toString()}${result.stderr.toString()}`.trim() };
};

/**
 * Whether the immutable attribute (`chattr +i`, root on ext4) is enforced where temp dirs live, for descriptors
 * already open: then writes through them fail with EPERM, which SQLite reports as SQLITE_IOERR_WRITE, the code a
 * filesystem forced read-only gives. The one way found to make a file a running process holds unwritable (see
 * test/e2e/storage-failures.test.ts for the ways that do not work).
 */
export function immutableIsEnforced(): { ok: boolean; why: string } {
  const probeDir = makeTempDir("opportunity-immutable-probe-");
  const probe = join(probeDir.path, "probe");
  writeFileSync(probe, "a");
  const fd = openSync(probe, "a");
  try {
    const set = chattr("+i", probe);
    if (set.code !== 0) return { ok: false, why: `chattr +i failed: ${set.output}` };
    try {
      writeSync(fd, "b");
      return { ok: false, why: "the filesystem of the temp dir does not enforce the immutable attribute on open files" };
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EPERM" ? { ok: true, why: "" } : { ok: false, why: `unexpected ${(error as Error).message}` };
    } finally {
      chattr("-i", probe);
    }
  } finally {
    closeSync(fd);
    probeDir.cleanup();
  }
}

/** Files made immutable by a test, made writable again by it or, whatever happened, by clearAll in its afterAll. */
export class ImmutableFiles {
  private readonly files = new Set<string>();

  lock(file: string): void {
    this.files.add(file);
    const result = chattr("+i", file);
    if (result.code !== 0) throw new Error(`chattr +i ${file} failed: ${result.output}`);
  }

  unlock(file: string): void {
    const result = chattr("-i", file);
    if (result.code !== 0) throw new Error(`chattr -i ${file} failed: ${result.output}`);
    this.files.delete(file);
  }

  clearAll(): void {
    for (const file of this.files) chattr("-i", file);
    this.files.clear();
  }
}
