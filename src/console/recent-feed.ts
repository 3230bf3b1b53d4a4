import { ApiFault, call, parseExactJson } from "./api";
import { el } from "./dom";
import { fieldLabel, formatTime } from "./format";
import { session } from "./session";

/** One event of GET /api/events (default form), as the live stream sends it too. */
export interface FeedEvent {
  position: number;
  streamId: string;
  version: number;
  type: string;
  recordedAt: string;
  hash: string;
  data: { changes?: Record<string, unknown> };
  metadata: { actor?: string; requestId?: string };
}

interface FeedPage {
  events: FeedEvent[];
  head: { position: number; hash: string } | null;
}

const SHOWN = 30;
const INITIAL = 15;
const POLL_MS = 5_000;
const RECONNECT_MS = 3_000;

export interface FeedListener {
  /** The chain's head moved (or was first read): `position:hash`. */
  head(head: string): void;
  /** A new event arrived after the page was loaded. */
  event(event: FeedEvent): void;
}

/** `id:`, `event:` and `data:` lines of one Server-Sent Events frame; null for a comment. */
function frameData(frame: string): string | null {
  const data = frame.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).replace(/^ /, ""));
  return data.length > 0 ? data.join("\n") : null;
}

/**
 * The global feed, newest first, kept live: from the change stream (GET /api/events/stream, read with fetch so
 * that the secret goes in a header, which EventSource cannot send), or, where the service has no stream, by
 * asking for new events every few seconds.
 */
export class RecentFeed {
  private last = 0;
  private stopper = new AbortController();

  constructor(
    private readonly list: HTMLOListElement,
    private readonly mode: HTMLElement,
    private readonly listener: FeedListener,
  ) {}

  async start(): Promise<void> {
    this.stop();
    this.stopper = new AbortController();
    this.list.replaceChildren();
    const first = await call<FeedPage>("GET", "/api/events?after=0&limit=1");
    if (!first.ok) throw new Error(first.message);
    const head = first.data.head;
    this.listener.head(head ? `${head.position}:${head.hash}` : "（尚无事件）");
    this.last = head?.position ?? 0;
    if (this.last > 0) {
      const recent = await call<FeedPage>("GET", `/api/events?after=${Math.max(0, this.last - INITIAL)}&limit=${INITIAL}`);
      if (recent.ok) for (const event of recent.data.events) this.add(event);
    }
    void this.follow(this.stopper.signal);
  }

  stop(): void {
    this.stopper.abort();
  }

  private add(event: FeedEvent): void {
    if (event.position <= Number(this.list.firstElementChild?.getAttribute("data-position") ?? 0)) return;
    const fields = Object.keys(event.data?.changes ?? {}).map(fieldLabel);
    const link = el("a", { href: `#opp=${encodeURIComponent(event.streamId)}` }, event.streamId);
    const what = event.type === "OpportunityCreated" ? "创建" : event.type === "OpportunityUpdated" ? `更新 ${fields.join("、")}` : event.type;
    this.list.prepend(
      el(
        "li",
        { "data-position": String(event.position) },
        el("div", { class: "entry-head" }, el("strong", {}, formatTime(event.recordedAt)), el("span", {}, `位置 ${event.position}`), el("span", {}, `调用方 ${event.metadata?.actor ?? "?"}`)),
        el("div", {}, link, ` 版本 ${event.version}：${what}`),
      ),
    );
    while (this.list.children.length > SHOWN) this.list.lastElementChild?.remove();
  }

  private arrived(event: FeedEvent): void {
    if (event.position <= this.last) return;
    this.last = event.position;
    this.add(event);
    this.listener.head(`${event.position}:${event.hash}`);
    this.listener.event(event);
  }

  /** The stream while it lasts, reconnecting from the last event seen; polling where there is no stream. */
  private async follow(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const outcome = await this.stream(signal).catch(() => "lost" as const);
      if (signal.aborted || outcome === "unauthorized") return;
      if (outcome === "none") return this.poll(signal);
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  }

  private async stream(signal: AbortSignal): Promise<"none" | "lost" | "unauthorized"> {
    const response = await fetch(`/api/events/stream?after=${this.last}`, { headers: { "X-Internal-Secret": session.secret() ?? "", Accept: "text/event-stream" }, signal, cache: "no-store" });
    if (response.status === 404) return "none";
    // The secret stopped working: retrying would only count against this address (the lockout); a read says so.
    if (response.status === 401) {
      await call("GET", "/api/stages").catch(() => {});
      return "unauthorized";
    }
    if (!response.ok || !response.body || !(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) return "lost";
    this.mode.textContent = "实时更新中（变更流）";
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return "lost";
      buffer += value.replace(/\r\n?/g, "\n");
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const data = frameData(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (data !== null) this.arrived(parseExactJson(data) as FeedEvent);
      }
    }
  }

  private async poll(signal: AbortSignal): Promise<void> {
    this.mode.textContent = `每 ${POLL_MS / 1000} 秒刷新`;
    while (!signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (signal.aborted) return;
      try {
        const page = await call<FeedPage>("GET", `/api/events?after=${this.last}&limit=100`);
        if (page.ok) for (const event of page.data.events) this.arrived(event);
      } catch (error) {
        if (error instanceof ApiFault && error.status === 401) return;
      }
    }
  }
}
