import { call, faultText } from "./api";
import { byId, say } from "./dom";

/** GET /api/audit/verifications/{id}: a verification job as the service reports it. */
interface VerificationJob {
  id: string;
  state: "running" | "done" | "error";
  checked: number;
  total: number | null;
  result: {
    ok: boolean;
    events: number;
    opportunities: number;
    head: string;
    firstFailure: { position: number | null; at: string; reason: string; line: string } | null;
    lines: string[];
  } | null;
  error: string | null;
}

const POLL_MS = 400;
const BUSY = /任务 ([0-9a-zA-Z-]+)，/;

/**
 * The chain proof: the current head with a copy button, and 校验, the CLI's `verify` run by the service as a
 * background job (optionally against a head the auditor kept), with its progress and its verdict.
 */
export class ChainProof {
  private readonly head = byId("head");
  private readonly copyMessage = byId("copy-message");
  private readonly progress = byId("verify-progress");
  private readonly bar = this.progress.querySelector<HTMLElement>(".bar")!;
  private readonly message = byId("verify-message");
  private readonly lines = byId<HTMLPreElement>("verify-lines");
  private readonly expectHead = byId<HTMLInputElement>("expect-head");
  private readonly submit = byId<HTMLFormElement>("verify-form").querySelector<HTMLButtonElement>("button")!;
  private following: string | null = null;

  constructor() {
    byId("copy-head").addEventListener("click", () => void this.copy());
    byId<HTMLFormElement>("verify-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.verify();
    });
  }

  showHead(head: string): void {
    this.head.textContent = head;
  }

  reset(): void {
    this.following = null;
    this.head.textContent = "—";
    this.progress.hidden = true;
    this.lines.hidden = true;
    say(this.message, "");
    say(this.copyMessage, "");
  }

  private async copy(): Promise<void> {
    const text = this.head.textContent ?? "";
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard permission (or not a secure origin): select the text, so Ctrl+C copies it.
      getSelection()?.selectAllChildren(this.head);
      say(this.copyMessage, "无法直接写入剪贴板，已选中链头，请按 Ctrl+C 复制");
      return;
    }
    say(this.copyMessage, "已复制链头", "ok");
  }

  private async verify(): Promise<void> {
    const expectHead = this.expectHead.value.trim();
    this.lines.hidden = true;
    this.setProgress(0);
    this.progress.hidden = false;
    say(this.message, "正在发起校验…");
    try {
      const started = await call<VerificationJob>("POST", "/api/audit/verifications", expectHead ? { body: { expectHead } } : {});
      if (started.ok) return await this.follow(started.data.id);
      const running = BUSY.exec(started.message)?.[1];
      if (!running) {
        this.progress.hidden = true;
        return say(this.message, started.message, "error");
      }
      say(this.message, "已有校验任务在进行，正在显示它的进度");
      await this.follow(running);
    } catch (error) {
      this.progress.hidden = true;
      say(this.message, faultText(error), "error");
    }
  }

  private async follow(id: string): Promise<void> {
    this.following = id;
    this.submit.disabled = true;
    try {
      while (this.following === id) {
        const answer = await call<VerificationJob>("GET", `/api/audit/verifications/${encodeURIComponent(id)}`);
        if (!answer.ok) return say(this.message, answer.message, "error");
        const job = answer.data;
        if (job.state !== "running") return this.verdict(job);
        this.setProgress(job.total ? Math.floor((job.checked / job.total) * 100) : 0);
        say(this.message, job.total === null ? "校验中：正在读取快照…" : `校验中：已校验到位置 ${job.checked} / ${job.total}`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    } finally {
      this.submit.disabled = false;
    }
  }

  private verdict(job: VerificationJob): void {
    this.setProgress(100);
    const result = job.result;
    if (job.state === "error" || !result) return say(this.message, job.error ?? "校验未能完成", "error");
    this.lines.textContent = result.lines.join("\n");
    this.lines.hidden = false;
    if (result.ok) return say(this.message, `链完整：${result.events} 个事件、${result.opportunities} 个商机，链头 ${result.head}`, "ok");
    const first = result.firstFailure!;
    const where = first.position !== null ? `位置 ${first.position}` : first.at;
    say(this.message, `校验失败：${where}：${first.reason}（完好部分到链头 ${result.head}）`, "error");
  }

  private setProgress(percent: number): void {
    this.progress.setAttribute("aria-valuenow", String(percent));
    this.progress.setAttribute("aria-valuetext", `${percent}%`);
    this.bar.style.width = `${percent}%`;
  }
}
