/**
 * How a verification job (POST /api/audit/verifications) shares the machine with the writes it runs beside. A
 * lower priority keeps its thread out of the HTTP and writer threads' way, but not the database's: PostgreSQL's
 * backend reading the events for it runs at normal priority, and on SQLite the reads compete for memory and
 * disk. So the check also works only a quarter of the time it runs (measured with
 * test/bench/verify-while-writing.ts on two cores at concurrency 32, PostgreSQL on the same machine: writes at
 * 0.65 of their rate while a check worked half the time, 0.81 at a quarter). It takes four times as long as
 * `verify` does; an auditor waits, the writers do not.
 *
 * The service always runs jobs at DEFAULT_VERIFICATION_PACE; nothing an operator sets changes it. Another pace
 * is for tests whose subject is the job over HTTP, not how it yields the processor (see verificationRunnerFor).
 */
export interface VerificationPace {
  /** Run the check's thread at the lowest CPU priority (nice 19). */
  lowPriority: boolean;
  /** How long the check works before it pauses (ms). */
  workSliceMs: number;
  /** How long it then pauses per millisecond worked; 0 never pauses. */
  pausePerWork: number;
}

export const DEFAULT_VERIFICATION_PACE: Readonly<VerificationPace> = Object.freeze({ lowPriority: true, workSliceMs: 20, pausePerWork: 3 });

/**
 * The pacing of one check: call it as the check goes (every few hundred events); once it has worked a whole
 * slice since the last pause, it sleeps `pausePerWork` times that long. `now` and `sleep` are the clock and the
 * blocking sleep (a worker thread may block: it serves nothing else).
 */
export function pacer(pace: VerificationPace, now: () => number = () => performance.now(), sleep: (ms: number) => void = Bun.sleepSync): () => void {
  if (pace.pausePerWork <= 0) return () => {};
  let sliceStart = now();
  return () => {
    const worked = now() - sliceStart;
    if (worked < pace.workSliceMs) return;
    sleep(worked * pace.pausePerWork);
    sliceStart = now();
  };
}
