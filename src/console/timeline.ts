import type { HistoryEntryOf } from "../audit/history-entry";
import { call } from "./api";
import { el } from "./dom";
import { fieldLabel, formatTime, formatValue } from "./format";

/** One event of GET /api/opportunities/{code}/history, its values as JSON gives them. */
export type HistoryEntry = HistoryEntryOf<unknown>;

interface HistoryPage {
  items: HistoryEntry[];
  nextAfterVersion: number | null;
}

/** Entries per page of the timeline. */
const PAGE = 20;

const TYPE_LABELS: Record<string, string> = { OpportunityCreated: "创建", OpportunityUpdated: "更新" };

/** Up to `limit` entries of one opportunity's history after `afterVersion`, oldest first (the route's order). */
export async function historyPage(code: string, afterVersion: number, limit: number): Promise<HistoryEntry[]> {
  const answer = await call<HistoryPage>("GET", `/api/opportunities/${encodeURIComponent(code)}/history?afterVersion=${afterVersion}&limit=${limit}`);
  if (!answer.ok) throw new Error(answer.message);
  return answer.data.items;
}

function entryItem(entry: HistoryEntry, onPickVersion: (version: number) => void): HTMLLIElement {
  const changes = el("ul", { class: "changes" });
  for (const change of entry.changes) {
    changes.append(el("li", {}, `${fieldLabel(change.field)}: ${formatValue(change.field, change.from)} → ${formatValue(change.field, change.to)}`));
  }
  const pick = el("button", { type: "button", "aria-label": `查看版本 ${entry.version} 时的记录` }, "查看此版本");
  pick.addEventListener("click", () => onPickVersion(entry.version));
  const head = el(
    "div",
    { class: "entry-head" },
    el("strong", {}, formatTime(entry.recordedAt)),
    el("span", {}, `${TYPE_LABELS[entry.type] ?? entry.type} · 版本 ${entry.version}`),
    el("span", {}, `调用方 ${entry.actor}`),
    el("span", { class: "mono" }, `请求 ID ${entry.requestId}${entry.batchIndex === undefined ? "" : `（批量第 ${entry.batchIndex + 1} 条）`}`),
    el("span", {}, `位置 ${entry.position}`),
  );
  return el("li", { id: `event-${entry.position}`, tabindex: "-1", "data-version": String(entry.version) }, head, changes, pick);
}

/**
 * The timeline of one opportunity, newest first, a page at a time: the newest page when it is shown, older
 * pages on request (or when the chart asks for an entry further back).
 */
export class Timeline {
  private code = "";
  /** The oldest version listed; 1 means the whole history is. */
  private oldest = 0;

  constructor(
    private readonly list: HTMLOListElement,
    private readonly olderButton: HTMLButtonElement,
    private readonly onPickVersion: (version: number) => void,
  ) {
    olderButton.addEventListener("click", () => void this.older());
  }

  async show(code: string, latestVersion: number): Promise<void> {
    this.code = code;
    this.list.replaceChildren();
    this.oldest = latestVersion + 1;
    await this.older();
  }

  /** Appends the page before the oldest entry listed. */
  async older(): Promise<void> {
    if (this.oldest <= 1) return;
    const after = Math.max(0, this.oldest - 1 - PAGE);
    const entries = await historyPage(this.code, after, this.oldest - 1 - after);
    for (const entry of entries.reverse()) this.list.append(entryItem(entry, this.onPickVersion));
    this.oldest = after + 1;
    this.olderButton.hidden = this.oldest <= 1;
  }

  /** Brings one entry into view (loading older pages as needed) and moves the focus to it. */
  async reveal(version: number): Promise<void> {
    while (version < this.oldest && this.oldest > 1) await this.older();
    const item = this.list.querySelector<HTMLLIElement>(`li[data-version="${version}"]`);
    if (!item) return;
    for (const other of this.list.querySelectorAll("li.focused")) other.classList.remove("focused");
    item.classList.add("focused");
    item.scrollIntoView({ block: "center" });
    item.focus();
  }
}
