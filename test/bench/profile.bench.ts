/**
 * Where a durable update's time goes, by profile (`bun --cpu-prof`), for `make bench`: the service run from
 * source with the same code as the binary, loaded by wrk at concurrency 32, its sampling profile reduced to the
 * functions with the most self time. Bun writes the profile of the main thread only, so the writer thread's
 * code (planning, hashing, SQLite writes, commit) is profiled in the mode that runs it on the main thread
 * (`--no-writer-thread`, group commit alike); the default mode's profile is the HTTP thread's.
 *
 * Self time is sampled wall time on the thread: time blocked inside a native call (SQLite's COMMIT waiting for
 * its fsync) counts where it blocks, in `run`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort } from "../support/free-port";
import { makeTempDir } from "../support/temp-dir";
import { SECRET, waitForHealth, wrk } from "./load";

const root = resolve(import.meta.dir, "../..");

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  share: number;
  name: string;
}

/** The `count` functions with the most self time, as shares of all samples. */
export function topSelfTime(profile: CpuProfile, count: number): ProfileEntry[] {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, index) => {
    const frame = nodes.get(id)!.callFrame;
    const file = frame.url.split("/").pop() ?? "";
    // Line numbers are 0-based in the profile.
    const name = `${frame.functionName || "(anonymous)"}${file ? ` (${file}:${frame.lineNumber + 1})` : " (native)"}`;
    const delta = profile.timeDeltas[index] ?? 0;
    byFunction.set(name, (byFunction.get(name) ?? 0) + delta);
    total += delta;
  });
  return [...byFunction]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, time]) => ({ name, share: time / total }));
}

/** Serves `db` from source with a CPU profile, loads it with wrk at concurrency 32 for `seconds`, returns the top entries. */
export async function profileUpdates(db: string, flags: string[], seconds: string, count = 12): Promise<{ entries: ProfileEntry[]; rps: number }> {
  const dir = makeTempDir("opportunity-profile-");
  const port = freePort();
  const child = Bun.spawn(
    [process.execPath, "--cpu-prof", `--cpu-prof-dir=${dir.path}`, join(root, "src/main.ts"), "serve", "--port", String(port), "--host", "127.0.0.1", "--db", db, ...flags],
    { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, INTERNAL_SECRET: SECRET, LOG_LEVEL: "warn" } },
  );
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitForHealth(url, child);
    await wrk([url], 32, "2");
    const load = await wrk([url], 32, seconds);
    child.kill("SIGTERM");
    await child.exited;
    const file = readdirSync(dir.path).find((name) => name.endsWith(".cpuprofile"));
    if (!file) throw new Error("the service wrote no CPU profile");
    return { entries: topSelfTime(JSON.parse(readFileSync(join(dir.path, file), "utf8")) as CpuProfile, count), rps: load.rps };
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    dir.cleanup();
  }
}
