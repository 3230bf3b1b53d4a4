import { call, faultText } from "./api";
import { byId, say } from "./dom";
import { config, formatTime } from "./format";
import { renderRecord, type OpportunityRecord } from "./record-view";
import { historyPage, Timeline, type HistoryEntry } from "./timeline";

/** Most events the chart draws: the newest of a longer history. */
const CHART_EVENTS = 1000;

type ChartDrawer = (container: HTMLElement, entries: HistoryEntry[], onPick: (version: number) => void) => boolean;

const recordPath = (code: string, query = "") => `/api/opportunities/${encodeURIComponent(code)}${query}`;

/**
 * A time typed to the second (or minute) means the end of that second (or minute), as a date alone means the end
 * of that day: the timeline shows times to the second, and a change made within the second shown is included.
 */
export function throughTheEnd(text: string): string {
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}$/.test(text)) return `${text}:59.999`;
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}$/.test(text)) return `${text}.999`;
  return text;
}

/**
 * One opportunity: the find form, its current record or its record at a point (time or version) with the
 * fields that differ from today marked, its timeline and its chart.
 */
export class OpportunityView {
  private readonly codeInput = byId<HTMLInputElement>("code");
  private readonly message = byId("find-message");
  private readonly recordBox = byId("record");
  private readonly recordTitle = byId("record-title");
  private readonly tbody = byId<HTMLTableElement>("record-table").tBodies[0]!;
  private readonly asOf = byId<HTMLInputElement>("as-of");
  private readonly atVersion = byId<HTMLInputElement>("at-version");
  private readonly pointMessage = byId("point-message");
  private readonly timeline = new Timeline(byId<HTMLOListElement>("timeline"), byId<HTMLButtonElement>("older"), (version) => void this.showVersion(version));
  private code: string | null = null;
  private current: OpportunityRecord | null = null;
  private reloading: ReturnType<typeof setTimeout> | undefined;
  private finds = 0;

  constructor(private readonly drawChart: ChartDrawer) {
    byId("time-zone").textContent = config.timeZone;
    byId<HTMLFormElement>("find-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.find(this.codeInput.value.trim());
    });
    this.onEnter(this.asOf, () => void this.applyPoint("asOf"));
    this.onEnter(this.atVersion, () => void this.applyPoint("version"));
    byId("point-apply").addEventListener("click", () => void this.applyPoint(this.asOf.value.trim() ? "asOf" : "version"));
    byId("point-clear").addEventListener("click", () => this.showCurrent());
  }

  private onEnter(input: HTMLInputElement, action: () => void): void {
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        action();
      }
    });
  }

  async find(code: string): Promise<void> {
    if (code === "") return say(this.message, "请输入商机编号", "error");
    // The last one asked for wins: an answer to an earlier find that arrives later is dropped.
    const asked = ++this.finds;
    this.codeInput.value = code;
    say(this.message, "正在查询…");
    try {
      const answer = await call<OpportunityRecord>("GET", recordPath(code));
      if (asked !== this.finds) return;
      if (!answer.ok) {
        this.hide();
        return say(this.message, answer.message, "error");
      }
      this.code = code;
      this.current = answer.data;
      say(this.message, "");
      this.showCurrent();
      await this.loadHistory(Number(answer.data.version));
    } catch (error) {
      say(this.message, faultText(error), "error");
    }
  }

  /** A new event of the opportunity shown (from the recent changes): its views are read again. */
  changed(code: string): void {
    if (code !== this.code) return;
    clearTimeout(this.reloading);
    this.reloading = setTimeout(() => void this.refresh(), 300);
  }

  private async refresh(): Promise<void> {
    if (!this.code) return;
    const answer = await call<OpportunityRecord>("GET", recordPath(this.code)).catch(() => null);
    if (!answer?.ok) return;
    this.current = answer.data;
    if (this.asOf.value.trim() === "" && this.atVersion.value.trim() === "") this.showCurrent();
    await this.loadHistory(Number(answer.data.version));
  }

  private async loadHistory(version: number): Promise<void> {
    const code = this.code!;
    await this.timeline.show(code, version);
    byId("history-section").hidden = false;
    const entries = await historyPage(code, Math.max(0, version - CHART_EVENTS), CHART_EVENTS);
    byId("chart-section").hidden = !this.drawChart(byId("chart"), entries, (picked) => void this.timeline.reveal(picked));
  }

  private showCurrent(): void {
    if (!this.current) return;
    this.asOf.value = "";
    this.atVersion.value = "";
    say(this.pointMessage, "");
    this.recordTitle.textContent = `当前记录（版本 ${String(this.current.version)}，更新于 ${formatTime(String(this.current.updatedAt))}）`;
    renderRecord(this.tbody, this.current);
    this.recordBox.hidden = false;
  }

  private async showVersion(version: number): Promise<void> {
    this.atVersion.value = String(version);
    await this.applyPoint("version");
    this.atVersion.focus();
  }

  /** The record as it was at the time or version typed in; the other field is cleared. */
  private async applyPoint(by: "asOf" | "version"): Promise<void> {
    if (!this.code || !this.current) return;
    const value = (by === "asOf" ? this.asOf : this.atVersion).value.trim();
    if (value === "") return this.showCurrent();
    (by === "asOf" ? this.atVersion : this.asOf).value = "";
    say(this.pointMessage, "正在读取…");
    try {
      const query = by === "asOf" ? throughTheEnd(value) : value;
      const answer = await call<OpportunityRecord>("GET", recordPath(this.code, `?${by}=${encodeURIComponent(query)}`));
      if (!answer.ok) return say(this.pointMessage, answer.message, "error");
      const differing = renderRecord(this.tbody, answer.data, this.current);
      const when = by === "asOf" ? `${value} 时` : `版本 ${value} 时`;
      this.recordTitle.textContent = `${when}的记录（版本 ${String(answer.data.version)}）`;
      say(this.pointMessage, differing === 0 ? "与当前记录相同" : `与当前记录不同的字段：${differing} 项（已标出）`);
    } catch (error) {
      say(this.pointMessage, faultText(error), "error");
    }
  }

  private hide(): void {
    this.code = null;
    this.current = null;
    this.recordBox.hidden = true;
    byId("history-section").hidden = true;
    byId("chart-section").hidden = true;
  }

  reset(): void {
    this.finds += 1;
    this.hide();
    this.codeInput.value = "";
    say(this.message, "");
  }
}
