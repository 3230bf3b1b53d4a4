/**
 * CPU time spent by the processes under load, read from /proc: the service's threads (HTTP thread, writer
 * thread, the rest) and the PostgreSQL backends serving one database. On a shared 2-core machine CPU per
 * request is steadier than requests per second, and it says what the cores allow.
 */
import { readdirSync, readFileSync } from "node:fs";

/** User plus system CPU time in a /proc stat file, in seconds (Linux clock ticks of 10 ms). */
function statCpuSeconds(path: string): number {
  const text = readFileSync(path, "utf8");
  // After "pid (comm) " (comm may hold spaces): state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
  const fields = text.slice(text.lastIndexOf(") ") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Bun's name for a Worker's thread (the writer thread); JSC's helpers are JITWorker, HeapHelper and so on. */
const WORKER_THREAD = "Worker";

export interface ThreadCpu {
  total: number;
  http: number;
  writer: number;
}

/**
 * CPU seconds so far of service processes, summed: in all (threads that have ended included), in their main
 * threads, which serve HTTP, and in their Worker threads (the writer thread).
 */
export function threadCpu(pids: readonly number[]): ThreadCpu {
  const sum: ThreadCpu = { total: 0, http: 0, writer: 0 };
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      if (readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() === WORKER_THREAD) sum.writer += statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
    }
    sum.total += statCpuSeconds(`/proc/${pid}/stat`);
    sum.http += statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
  }
  return sum;
}

/**
 * CPU seconds so far of the PostgreSQL server processes (backends) connected to one database, by pid: a
 * backend's process title is "postgres: CLUSTER: USER DATABASE HOST(PORT) STATE". The server's shared helpers
 * (WAL writer, checkpointer) serve every database on the machine and are not counted.
 */
export function backendCpu(database: string): Map<number, number> {
  const seconds = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (title.startsWith("postgres: ") && title.includes(` ${database} `)) seconds.set(Number(entry), statCpuSeconds(`/proc/${entry}/stat`));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return seconds;
}

/** CPU seconds the backends spent between two readings; a backend that connected in between counts from zero. */
export function backendCpuSpent(before: Map<number, number>, after: Map<number, number>): number {
  let spent = 0;
  for (const [pid, seconds] of after) spent += seconds - (before.get(pid) ?? 0);
  return spent;
}
