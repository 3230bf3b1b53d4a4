import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TempDir {
  path: string;
  cleanup: () => void;
}

/** A fresh directory under `parent` (default the system temp dir), removed by the returned cleanup. */
export function makeTempDir(prefix = "opportunity-test-", parent = tmpdir()): TempDir {
  const path = mkdtempSync(join(parent, prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Where to put the files of a test that writes many small stores and is not about their durability: Linux's
 * tmpfs (/dev/shm) when there is one to write to, else the system temp dir. SQLite behaves the same there, WAL
 * and all, but its fsyncs (synchronous=FULL: one per commit, several to create a database) reach no disk, where
 * under make test they wait behind every other suite's.
 */
export function memoryTempParent(): string {
  try {
    accessSync("/dev/shm", constants.W_OK);
    return "/dev/shm";
  } catch {
    return tmpdir();
  }
}
