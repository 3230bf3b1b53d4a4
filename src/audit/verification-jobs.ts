import { formatHead, type Head } from "../../events/verify-chain";
import { escapeForTerminal } from "../cli/terminal-text";
import type { VerificationRunner } from "./verification-runner";
import { findingLine, verifyReportLines } from "./verify-report-lines";
import type { VerifyReport } from "./verify-store";

/**
 * The verification jobs of one instance (POST and GET /api/audit/verifications): `verify` run in the background
 * over HTTP, one at a time, its progress and result kept in memory for the auditor to poll. One at a time: a
 * verification reads the whole store, and two at once would only take twice the processor from the writes.
 */

export type JobState = "running" | "done" | "error";

/** The first finding, as `verify` prints it. */
export interface FirstFailure {
  /** The event's position; null when the finding is not about one event (schema, database, a table). */
  position: number | null;
  /** Where it shows: `position N`, `table T`, `schema`, `database`. */
  at: string;
  reason: string;
  /** The line `verify` prints: `FAILED at <at>: <reason>`. */
  line: string;
}

export interface VerificationResult {
  ok: boolean;
  /** Events found sound before the first finding (all of them when ok). */
  events: number;
  opportunities: number;
  /** `position:hash` of the sound part of the chain, as `verify` prints it. */
  head: string;
  firstFailure: FirstFailure | null;
  /** Every line `verify` prints for this result, in its order. */
  lines: string[];
}

export interface VerificationJobView {
  id: string;
  state: JobState;
  expectHead: string | null;
  /** The position of the last event checked so far (all of them once done). */
  checked: number;
  /** The last position of the snapshot being checked; null until the snapshot is taken. */
  total: number | null;
  startedAt: string;
  finishedAt: string | null;
  /** Once done. */
  result: VerificationResult | null;
  /** When the check could not run to its end (state "error"): why, in Chinese. */
  error: string | null;
}

/** Finished jobs kept for polling; the oldest is forgotten first. */
const KEEP_FINISHED = 20;

export const VERIFICATION_MESSAGES = {
  busy: (job: VerificationJobView) =>
    `已有一个校验任务正在进行（任务 ${job.id}，已校验到位置 ${job.checked}${job.total === null ? "" : `，共 ${job.total}`}），同一实例同时只运行一个校验任务，请等它完成后再发起`,
  unsupported: "当前存储不支持在线校验",
  notFound: (id: string) => `校验任务不存在: ${id}（任务只保存在受理它的实例的内存中，保留最近 ${KEEP_FINISHED} 个，重启后清空）`,
  failed: (reason: string) => `校验未能完成: ${reason}`,
} as const;

function resultOf(report: VerifyReport): VerificationResult {
  const first = report.findings[0];
  return {
    ok: report.ok,
    events: report.events,
    opportunities: report.opportunities,
    head: formatHead(report.head),
    firstFailure: first
      ? { position: first.at.startsWith("position ") ? first.position : null, at: first.at, reason: escapeForTerminal(first.reason), line: findingLine(first) }
      : null,
    lines: verifyReportLines(report),
  };
}

export type StartOutcome = { ok: true; job: VerificationJobView } | { ok: false; message: string };

export class VerificationJobs {
  private readonly jobs = new Map<string, VerificationJobView>();
  private running: { job: VerificationJobView; done: Promise<void> } | null = null;

  private readonly now: () => Date;
  private readonly newId: () => string;

  /** `now` and `newId` (default: the clock, a random UUID) are there for tests that need fixed values. */
  constructor(
    private readonly runner: VerificationRunner | null,
    options: { now?: () => Date; newId?: () => string } = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.newId = options.newId ?? (() => crypto.randomUUID());
  }

  /** Starts a job, unless one is running (or this storage cannot be verified here): then says why. */
  start(expectHead: Head | null): StartOutcome {
    if (this.running) return { ok: false, message: VERIFICATION_MESSAGES.busy(this.running.job) };
    if (!this.runner) return { ok: false, message: VERIFICATION_MESSAGES.unsupported };
    const job: VerificationJobView = {
      id: this.newId(),
      state: "running",
      expectHead: expectHead && formatHead(expectHead),
      checked: 0,
      total: null,
      startedAt: this.now().toISOString(),
      finishedAt: null,
      result: null,
      error: null,
    };
    this.remember(job);
    const progress = { total: (total: number) => (job.total = total), checked: (position: number) => (job.checked = position) };
    const done = this.runner(expectHead, progress).then(
      (report) => this.finish(job, { state: "done", result: resultOf(report), checked: job.total ?? report.events }),
      (error: unknown) => this.finish(job, { state: "error", error: VERIFICATION_MESSAGES.failed((error as Error)?.message ?? String(error)) }),
    );
    this.running = { job, done };
    return { ok: true, job: { ...job } };
  }

  /** A job's state as of now, or null for an id this instance does not hold. */
  view(id: string): VerificationJobView | null {
    const job = this.jobs.get(id);
    return job ? { ...job } : null;
  }

  /** Resolves once no job is running (for a stop, and for tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running.done;
  }

  private finish(job: VerificationJobView, outcome: Partial<VerificationJobView>): void {
    Object.assign(job, outcome, { finishedAt: this.now().toISOString() });
    this.running = null;
  }

  private remember(job: VerificationJobView): void {
    this.jobs.set(job.id, job);
    for (const id of this.jobs.keys()) {
      if (this.jobs.size <= KEEP_FINISHED) break;
      if (this.jobs.get(id)!.state !== "running") this.jobs.delete(id);
    }
  }
}
