import type { StoredEvent } from "../../events/stored-event";
import { quote } from "../field-rules";
import type { CommitWatch, EventReads } from "../storage/port";
import { commentFrame, eventFrame } from "./event-stream-frames";

/**
 * The live event streams of this process (GET /api/events/stream) and their one shared watcher. New events are
 * read once, in pages after the lowest position the streams need, and each frame is built once for every
 * stream it goes to; the database is never asked once per stream. A stream that is not behind gets each new
 * event as soon as it is read (the watcher and the local writer wake the hub); a stream that starts behind
 * (`after`, `Last-Event-ID`) is given the history at its consumer's pace, and joins the others once it has
 * caught up.
 *
 * Memory stays bounded whatever the consumers do: a stream is given events only while its consumer has less than
 * `streamBufferBytes` unread. One that reads slower than events come (a burst, an import) falls behind and is
 * served from the database again once it has read what it holds; no event is skipped or held twice. The hub
 * keeps the page of history it read last (at most `pageSize` events, whoever reads it), so that a stream given a
 * roomful of it at a time does not have the database read the same page again for every roomful. A consumer
 * that stops reading altogether is disconnected: full, and nothing read for a whole heartbeat period. It (or
 * its replacement) resumes with `Last-Event-ID` and loses nothing.
 */

export const DEFAULT_MAX_STREAMS = 100;

/** What a stream's callers are told, in Chinese like every message of the service. */
export const STREAM_MESSAGES = {
  full: (max: number) => `同时打开的事件流已达上限（最多 ${max} 个），请稍后重试`,
  stopping: "服务正在停止，请稍后重试或连接其他实例",
  badLastEventId: (raw: string) => `Last-Event-ID 必须是不小于 0 的整数（事件的 position），收到: ${quote(raw)}`,
} as const;

export interface EventStreamLimits {
  /** Most streams open at once in this process (the `maxStreams` setting). */
  maxStreams: number;
  /**
   * A comment on every quiet stream this often, so that proxies do not close it (the `streamHeartbeatSeconds`
   * setting). Also the stall check: a stream that was full at one beat and has had nothing read since, at the
   * next, is disconnected.
   */
  heartbeatMs: number;
  /** A stream is given events only while it has less than this unread: the most it holds, plus one event. */
  streamBufferBytes: number;
  /** Events read at once. */
  pageSize: number;
  /** After a failed read, how long before the next try (the streams stay open meanwhile). */
  retryMs: number;
}

export const DEFAULT_STREAM_LIMITS: EventStreamLimits = {
  maxStreams: DEFAULT_MAX_STREAMS,
  heartbeatMs: 15_000,
  streamBufferBytes: 64 << 10,
  pageSize: 256,
  retryMs: 1_000,
};

export interface EventStreamSource {
  reads: Pick<EventReads, "readAll" | "head">;
  /** The database's own news of commits by other connections, processes and instances (none: only `wake`). */
  watch?: CommitWatch["watchCommits"];
  /** Told when reading new events starts failing (the streams stay open; the read is tried again). */
  onReadError?: (error: unknown) => void;
  /** Told when a stream is disconnected because its consumer stopped reading. */
  onStalled?: () => void;
}

/** The source of a hub over a storage: its reads, and its news of commits when it has them. */
export function streamSourceOf(storage: Pick<EventReads, "readAll" | "head"> & Partial<CommitWatch>, tell: Pick<EventStreamSource, "onReadError" | "onStalled"> = {}): EventStreamSource {
  const watch = storage.watchCommits?.bind(storage);
  return { reads: storage, watch, ...tell };
}

export interface StreamRequest {
  /** Send the events after this position; null: only the events committed from now on. */
  after: number | null;
  /** Send only this opportunity's events; null: all. */
  opportunityCode: string | null;
}

/** The comment each stream gets when the service stops: EventSource clients then reconnect, to another instance. */
const STOPPING = "服务正在停止，请重新连接（带 Last-Event-ID 可从断开处继续）";
const KEEPALIVE = "keep-alive";
/** The first bytes of every stream: the server sends an answer's headers only with its first bytes. */
const CONNECTED = commentFrame("connected");

/** An event read, and its frame (built the first time a stream needs it, then shared). */
interface PageEntry {
  event: StoredEvent;
  frame: () => Uint8Array;
}

/** One open stream: where it is in the events, and the bytes its consumer has not read yet. */
class Subscriber {
  readonly stream: ReadableStream<Uint8Array>;
  ended = false;
  /** Whether its consumer has made room since the last heartbeat, and whether it was full then. */
  readSinceBeat = false;
  fullAtBeat = false;
  private controller!: ReadableStreamDefaultController<Uint8Array>;

  constructor(
    /** The last event passed on (sent, or skipped by the filter). */
    public position: number,
    private readonly opportunityCode: string | null,
    private readonly room: number,
    hub: { pulled(subscriber: Subscriber): void; gone(subscriber: Subscriber): void },
  ) {
    // The queue's high-water mark is the room: `pull` comes when the consumer has read it below that.
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => void (this.controller = controller),
        pull: () => {
          this.readSinceBeat = true;
          hub.pulled(this);
        },
        cancel: () => {
          this.ended = true;
          hub.gone(this);
        },
      },
      { highWaterMark: room, size: (chunk) => chunk?.byteLength ?? 0 },
    );
  }

  /** Bytes queued that the consumer has not taken yet. */
  unread(): number {
    return this.ended ? 0 : this.room - (this.controller.desiredSize ?? this.room);
  }

  /** Whether it may be given more: open, and less than its room unread. */
  hasRoom(): boolean {
    return !this.ended && this.unread() < this.room;
  }

  /** Passes one event on: sent when it is of this stream's opportunity, skipped otherwise. */
  offer(event: StoredEvent, frame: () => Uint8Array): void {
    this.position = event.position;
    if (this.opportunityCode === null || event.streamId === this.opportunityCode) this.send(frame());
  }

  send(bytes: Uint8Array): void {
    if (!this.ended) this.controller.enqueue(bytes);
  }

  /** Ends the stream after what is queued (the consumer reads it all, then the end). */
  end(last: Uint8Array): void {
    if (this.ended) return;
    this.send(last);
    this.ended = true;
    this.controller.close();
  }

  /**
   * Drops the stream and what is queued at once: the server resets the connection. Without a reason: Bun reports
   * the reason of a response body that errors as if it were an uncaught error.
   */
  fail(): void {
    if (this.ended) return;
    this.ended = true;
    this.controller.error();
  }
}

export class EventStreamHub {
  readonly limits: EventStreamLimits;
  private readonly streams = new Set<Subscriber>();
  private opening = 0;
  /** Every event up to here has been read and passed to the streams that were not behind. */
  private cursor = 0;
  /** Changes when the cursor is set anew: a read begun before belongs to the old one. */
  private epoch = 0;
  private pumping = false;
  private again = false;
  private failing = false;
  private closed = false;
  private watching: Promise<(() => Promise<void>) | undefined> | undefined;
  /** The page of history read last, for the streams still catching up through it (of this epoch only). */
  private history: { epoch: number; entries: PageEntry[] } | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly source: EventStreamSource,
    limits: Partial<EventStreamLimits> = {},
  ) {
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...limits };
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Bytes queued on all streams that their consumers have not read yet. */
  get bufferedBytes(): number {
    let total = 0;
    for (const subscriber of this.streams) total += subscriber.unread();
    return total;
  }

  /**
   * Opens a stream; "full" when `maxStreams` are open already, "stopping" once the hub is closed. Reads the head
   * first, so a database out of reach fails here (503), before anything is sent.
   */
  async open(request: StreamRequest): Promise<ReadableStream<Uint8Array> | "full" | "stopping"> {
    if (this.closed) return "stopping";
    if (this.streams.size + this.opening >= this.limits.maxStreams) return "full";
    this.opening += 1;
    let head: number;
    try {
      head = (await this.source.reads.head())?.position ?? 0;
    } finally {
      this.opening -= 1;
    }
    if (this.closed) return "stopping";
    if (this.streams.size === 0) {
      // Nothing was read for anyone meanwhile: start from the head, not from where the last stream left off.
      this.cursor = head;
      this.epoch += 1;
    }
    const subscriber = new Subscriber(request.after ?? head, request.opportunityCode, this.limits.streamBufferBytes, this);
    subscriber.send(CONNECTED);
    this.streams.add(subscriber);
    this.startWatching();
    if (subscriber.position < this.cursor) this.wake();
    return subscriber.stream;
  }

  /** Something may have been committed: read it and pass it on. Cheap to call often; calls coalesce. */
  wake(): void {
    if (this.closed || this.streams.size === 0) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pump();
  }

  /**
   * Ends every stream (each gets a last comment first) and stops watching; no stream opens afterwards. A stream
   * whose consumer has its room full is dropped instead: ending it would wait for a consumer that may never read.
   */
  async close(): Promise<void> {
    this.closed = true;
    const last = commentFrame(STOPPING);
    for (const subscriber of this.streams) {
      if (subscriber.hasRoom()) subscriber.end(last);
      else subscriber.fail();
    }
    this.streams.clear();
    await this.stopWatching();
  }

  /** The stream machinery asks for more: a stream that is behind gets its next page. */
  pulled(subscriber: Subscriber): void {
    if (subscriber.position < this.cursor) this.wake();
  }

  /** The consumer went away. */
  gone(subscriber: Subscriber): void {
    this.streams.delete(subscriber);
    if (this.streams.size === 0) void this.stopWatching();
  }

  private async pump(): Promise<void> {
    try {
      do {
        this.again = false;
        const more = await this.readNew();
        const behind = await this.catchUp();
        if (more || behind) this.again = true;
      } while (this.again && !this.closed && this.streams.size > 0);
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.source.onReadError?.(error);
      this.failing = true;
      this.retryLater();
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Reads what was committed after the cursor, for every stream that is not behind. A stream without room stops
   * here and is behind from then on (catchUp serves it). True when there may be more.
   */
  private async readNew(): Promise<boolean> {
    const from = this.cursor;
    const epoch = this.epoch;
    const page = await this.source.reads.readAll(from, this.limits.pageSize);
    if (epoch !== this.epoch) return true;
    for (const event of page) {
      const frame = lazyFrame(event);
      for (const subscriber of this.streams) {
        // Behind: gets this event from catchUp, after the ones before it. Ahead (opened after it): has it.
        if (subscriber.position < from || event.position <= subscriber.position) continue;
        // Once full it stays full for the rest of the page: its unread bytes only grow until its consumer reads.
        if (subscriber.hasRoom()) subscriber.offer(event, frame);
      }
    }
    if (page.length > 0) this.cursor = page[page.length - 1]!.position;
    return page.length === this.limits.pageSize;
  }

  /**
   * One page of history for the streams that are behind the cursor and have room: from the lowest position among
   * them, up to the cursor, read once (see historyAfter). True when one of them still is behind with room.
   */
  private async catchUp(): Promise<boolean> {
    const ready = () => [...this.streams].filter((subscriber) => subscriber.position < this.cursor && subscriber.hasRoom());
    const behind = ready();
    if (behind.length === 0) {
      // Kept only while a stream (one without room, for now) may still need it.
      if (![...this.streams].some((subscriber) => subscriber.position < this.cursor)) this.history = undefined;
      return false;
    }
    const from = Math.min(...behind.map((subscriber) => subscriber.position));
    const until = this.cursor;
    const page = await this.historyAfter(from, until);
    if (page === null) return true;
    for (const { event, frame } of page) {
      if (event.position > until) break;
      // A stream without room stops here for this page: once full it stays full until its consumer reads.
      for (const subscriber of behind) if (event.position > subscriber.position && subscriber.hasRoom()) subscriber.offer(event, frame);
    }
    return ready().length > 0;
  }

  /**
   * The events after `from`, up to a page and never beyond `until`: the rest of the page kept when it holds the
   * next one, else a page read from the database (and kept). Null when the cursor was set anew meanwhile.
   */
  private async historyAfter(from: number, until: number): Promise<PageEntry[] | null> {
    const kept = this.history;
    if (kept?.epoch === this.epoch && kept.entries[0]!.event.position <= from + 1) {
      const next = kept.entries.findIndex((entry) => entry.event.position > from);
      if (next >= 0) return kept.entries.slice(next);
    }
    const epoch = this.epoch;
    const events = await this.source.reads.readAll(from, Math.min(this.limits.pageSize, until - from));
    if (epoch !== this.epoch) return null;
    const entries = events.map((event) => ({ event, frame: lazyFrame(event) }));
    this.history = entries.length > 0 ? { epoch, entries } : undefined;
    return entries;
  }

  /**
   * Each heartbeat: a keep-alive comment for every stream with nothing unread, and the end of every stream whose
   * consumer stopped reading (full at the last beat, full now, and nothing read in between).
   */
  private beat = (): void => {
    const comment = commentFrame(KEEPALIVE);
    for (const subscriber of this.streams) {
      const full = !subscriber.hasRoom();
      if (full && subscriber.fullAtBeat && !subscriber.readSinceBeat) {
        subscriber.fail();
        this.gone(subscriber);
        this.source.onStalled?.();
        continue;
      }
      subscriber.fullAtBeat = full;
      subscriber.readSinceBeat = false;
      if (subscriber.unread() === 0) subscriber.send(comment);
    }
  };

  private retryLater(): void {
    if (this.retry !== undefined || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.wake();
    }, this.limits.retryMs);
    this.retry.unref();
  }

  private startWatching(): void {
    if (this.heartbeat === undefined) {
      this.heartbeat = setInterval(this.beat, this.limits.heartbeatMs);
      this.heartbeat.unref();
    }
    if (this.watching === undefined && this.source.watch) this.watching = this.source.watch(() => this.wake()).catch(() => undefined);
  }

  private async stopWatching(): Promise<void> {
    this.history = undefined;
    clearInterval(this.heartbeat);
    clearTimeout(this.retry);
    this.heartbeat = undefined;
    this.retry = undefined;
    const watching = this.watching;
    this.watching = undefined;
    const stop = await watching;
    await stop?.();
  }
}

/** An event's frame, built the first time a stream needs it and then shared. */
function lazyFrame(event: StoredEvent): () => Uint8Array {
  let frame: Uint8Array | undefined;
  return () => (frame ??= eventFrame(event));
}
