/**
 * The live event streams' hub on its own, over events in memory: who gets which event, in what order, how often
 * the events are read, how memory is bounded, and how streams end. The HTTP route and the real databases are
 * tested in test/http/event-stream.test.ts and end to end in test/e2e/event-stream.test.ts.
 */
import { describe, expect, test } from "bun:test";
import type { StoredEvent } from "../../events/stored-event";
import { EventStreamHub, type EventStreamLimits } from "../../src/http/event-stream-hub";
import { eventOf, SseReader } from "../support/sse-reader";

class FakeEvents {
  readonly events: StoredEvent[] = [];
  /** Every readAll call: where it started and how many it asked for. */
  readonly reads: { after: number; limit: number }[] = [];
  failures = 0;

  append(count: number, streamId = "OPP-1", padding = 0): void {
    for (let index = 0; index < count; index++) {
      const position = this.events.length + 1;
      this.events.push({
        position,
        eventId: `E${position}`,
        streamId,
        version: position,
        type: "OpportunityUpdated",
        schemaVersion: 1,
        data: { changes: { description: "x".repeat(padding) }, previous: {} },
        metadata: { actor: "oms", requestId: `r${position}` },
        recordedAt: "2026-04-01T02:00:00.000Z",
        prevHash: "0".repeat(64),
        hash: String(position).padStart(64, "0"),
      });
    }
  }

  readAll = async (after: number, limit: number): Promise<StoredEvent[]> => {
    this.reads.push({ after, limit });
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error("database down");
    }
    return this.events.filter((event) => event.position > after).slice(0, limit);
  };

  head = async () => {
    const last = this.events[this.events.length - 1];
    return last ? { position: last.position, hash: last.hash } : null;
  };
}

/** A database's news of commits, as a test drives it. */
class FakeWatch {
  starts = 0;
  stops = 0;
  onCommit: (() => void) | undefined;
  watch = async (onCommit: () => void) => {
    this.starts += 1;
    this.onCommit = onCommit;
    onCommit();
    return async () => {
      this.stops += 1;
      this.onCommit = undefined;
    };
  };
}

function hubOver(events: FakeEvents, limits: Partial<EventStreamLimits> = {}, watch = new FakeWatch(), onReadError?: (error: unknown) => void) {
  const hub = new EventStreamHub({ reads: events, watch: watch.watch, onReadError }, { retryMs: 20, ...limits });
  return { hub, watch };
}

async function open(hub: EventStreamHub, after: number | null, opportunityCode: string | null = null): Promise<SseReader> {
  const stream = await hub.open({ after, opportunityCode });
  if (typeof stream === "string") throw new Error(`refused: ${stream}`);
  return new SseReader(stream);
}

const positions = async (reader: SseReader, count: number) => (await reader.events(count)).map((frame) => Number(frame.id));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

describe("which events a stream gets", () => {
  test("without a start, only events committed after it opened; each frame is id, event type and the feed's JSON", async () => {
    const events = new FakeEvents();
    events.append(3);
    const { hub } = hubOver(events);
    const reader = await open(hub, null);
    events.append(2);
    hub.wake();
    const frames = await reader.events(2);
    expect(frames.map((frame) => [frame.id, frame.event])).toEqual([
      ["4", "OpportunityUpdated"],
      ["5", "OpportunityUpdated"],
    ]);
    expect(eventOf(frames[0]!)).toMatchObject({ position: 4, eventId: "E4", streamId: "OPP-1", prevHash: "0".repeat(64) });
    await hub.close();
  });

  test("after N starts after N and runs on into the live events, in position order, each once", async () => {
    const events = new FakeEvents();
    events.append(7);
    const { hub } = hubOver(events, { pageSize: 2 });
    const reader = await open(hub, 1);
    expect(await positions(reader, 6)).toEqual(range(2, 7));
    events.append(3);
    hub.wake();
    expect(await positions(reader, 3)).toEqual(range(8, 10));
    await reader.expectNoEvent(50);
    await hub.close();
  });

  test("a stream catching up and live streams beside it, while events keep coming: each gets every event once, in order", async () => {
    const events = new FakeEvents();
    events.append(500);
    const { hub } = hubOver(events, { pageSize: 16 });
    const live = await open(hub, null);
    const behind = await open(hub, 0);
    const middle = await open(hub, 250);
    for (let round = 0; round < 20; round++) {
      events.append(5);
      hub.wake();
      await Bun.sleep(1);
    }
    expect(await positions(live, 100)).toEqual(range(501, 600));
    expect(await positions(behind, 600)).toEqual(range(1, 600));
    expect(await positions(middle, 350)).toEqual(range(251, 600));
    for (const reader of [live, behind, middle]) await reader.expectNoEvent(30);
    await hub.close();
  });

  test("opportunityCode: only that opportunity's events; the others are passed over", async () => {
    const events = new FakeEvents();
    const { hub } = hubOver(events);
    const reader = await open(hub, 0, "OPP-2");
    events.append(2, "OPP-1");
    events.append(1, "OPP-2");
    events.append(3, "OPP-1");
    events.append(1, "OPP-2");
    hub.wake();
    const frames = await reader.events(2);
    expect(frames.map((frame) => [frame.id, eventOf(frame).streamId])).toEqual([
      ["3", "OPP-2"],
      ["7", "OPP-2"],
    ]);
    await reader.expectNoEvent(50);
    await hub.close();
  });
});

describe("one watcher and one read for all streams", () => {
  test("ten live streams cost one read per wake, not one each", async () => {
    const events = new FakeEvents();
    const { hub } = hubOver(events);
    const readers = await Promise.all(Array.from({ length: 10 }, () => open(hub, null)));
    await Bun.sleep(20);
    const before = events.reads.length;
    events.append(5);
    hub.wake();
    for (const reader of readers) expect(await positions(reader, 5)).toEqual(range(1, 5));
    expect(events.reads.length - before).toBe(1);
    await hub.close();
  });

  test("the database's watcher starts with the first stream, wakes the hub, and stops with the last", async () => {
    const events = new FakeEvents();
    const { hub, watch } = hubOver(events);
    expect(watch.starts).toBe(0);
    const first = await open(hub, null);
    const second = await open(hub, null);
    expect(watch.starts).toBe(1);
    events.append(1);
    watch.onCommit!();
    expect(await positions(first, 1)).toEqual([1]);
    expect(await positions(second, 1)).toEqual([1]);
    await first.cancel();
    await Bun.sleep(10);
    expect(watch.stops).toBe(0);
    await second.cancel();
    await Bun.sleep(10);
    expect({ starts: watch.starts, stops: watch.stops, open: hub.openStreams }).toEqual({ starts: 1, stops: 1, open: 0 });
  });

  test("once every stream has gone, a new one starts from the head: what was committed meanwhile is not read for nobody", async () => {
    const events = new FakeEvents();
    const { hub } = hubOver(events);
    const first = await open(hub, null);
    await first.cancel();
    events.append(1_000);
    const reads = events.reads.length;
    const second = await open(hub, null);
    events.append(1);
    hub.wake();
    expect(await positions(second, 1)).toEqual([1_001]);
    expect(events.reads.slice(reads).every((read) => read.after >= 1_000)).toBe(true);
    await hub.close();
  });

  test("history is read a page at a time, each page once, however few of its events fit in a stream's room", async () => {
    const events = new FakeEvents();
    // Events of about 2.6 KB against a room of 8 KiB: about four at a time.
    events.append(1_000, "OPP-1", 2_000);
    const { hub } = hubOver(events, { pageSize: 100, streamBufferBytes: 8_192 });
    const reads = events.reads.length;
    const reader = await open(hub, 0);
    expect(await positions(reader, 1_000)).toEqual(range(1, 1_000));
    // Reads of new events (after the head, 1,000) find none; history is ten pages, not one per roomful (~250).
    const history = events.reads.slice(reads).filter((read) => read.after < 1_000);
    expect(history).toEqual(range(0, 9).map((page) => ({ after: page * 100, limit: 100 })));
    await hub.close();
  });
});

describe("memory stays bounded", () => {
  test("a stream catching up is given history at its consumer's pace, not all at once", async () => {
    const events = new FakeEvents();
    events.append(5_000, "OPP-1", 200);
    const { hub } = hubOver(events, { pageSize: 64, streamBufferBytes: 4_096 });
    const reader = await open(hub, 0);
    await Bun.sleep(50);
    // Its room and one event at most (events of ~700 bytes), never the 5,000 events; a page or two read.
    expect(hub.bufferedBytes).toBeLessThan(4_096 + 1_000);
    expect(events.reads.length).toBeLessThanOrEqual(3);
    expect(await positions(reader, 5_000)).toEqual(range(1, 5_000));
    expect(hub.openStreams).toBe(1);
    await hub.close();
  });

  test("a burst far beyond a live stream's room reaches its reading consumer whole: it falls behind, then catches up", async () => {
    const events = new FakeEvents();
    const { hub } = hubOver(events, { pageSize: 128, streamBufferBytes: 8_192 });
    const reader = await open(hub, null);
    await Bun.sleep(10);
    events.append(3_000, "OPP-1", 300);
    hub.wake();
    await Bun.sleep(20);
    expect(hub.bufferedBytes).toBeGreaterThan(0);
    expect(hub.bufferedBytes).toBeLessThan(8_192 + 1_000);
    expect(await positions(reader, 3_000)).toEqual(range(1, 3_000));
    await reader.expectNoEvent(30);
    expect(hub.openStreams).toBe(1);
    await hub.close();
  });

  test("a consumer that stops reading is held to its room, then disconnected at the second heartbeat; a slow reader is not", async () => {
    const events = new FakeEvents();
    let stalled = 0;
    const hub = new EventStreamHub({ reads: events, onStalled: () => (stalled += 1) }, { heartbeatMs: 40, streamBufferBytes: 4_096, pageSize: 32 });
    const paused = await open(hub, null);
    const slow = await open(hub, null);
    const got: number[] = [];
    const reading = (async () => {
      while (got.length < 300) {
        got.push(...(await positions(slow, 1)));
        await Bun.sleep(1);
      }
    })();
    for (let round = 0; round < 30; round++) {
      events.append(10, "OPP-1", 300);
      hub.wake();
      await Bun.sleep(5);
      // Never more than the two rooms and an event each, whatever the paused consumer leaves unread.
      expect(hub.bufferedBytes).toBeLessThan(2 * (4_096 + 1_000));
    }
    await reading;
    expect(got).toEqual(range(1, 300));
    for (let tries = 0; tries < 50 && hub.openStreams > 1; tries++) await Bun.sleep(10);
    expect({ open: hub.openStreams, stalled }).toEqual({ open: 1, stalled: 1 });
    // What was queued for it went with the connection.
    expect(paused.events(1, 200)).rejects.toThrow();
    await hub.close();
  });
});

describe("limits, failures, heartbeats and the end", () => {
  test("maxStreams open at once; one more is refused until one closes", async () => {
    const events = new FakeEvents();
    const { hub } = hubOver(events, { maxStreams: 2 });
    const first = await open(hub, null);
    await open(hub, null);
    expect(await hub.open({ after: null, opportunityCode: null })).toBe("full");
    await first.cancel();
    await Bun.sleep(10);
    expect(typeof (await hub.open({ after: null, opportunityCode: null }))).toBe("object");
    await hub.close();
  });

  test("a read that fails is tried again: the streams stay open and lose nothing; the failure is reported once", async () => {
    const events = new FakeEvents();
    const errors: unknown[] = [];
    const { hub } = hubOver(events, {}, new FakeWatch(), (error) => errors.push(error));
    const reader = await open(hub, null);
    await Bun.sleep(10);
    events.append(3);
    events.failures = 3;
    hub.wake();
    expect(await positions(reader, 3)).toEqual([1, 2, 3]);
    expect(errors.map((error) => (error as Error).message)).toEqual(["database down"]);
    await hub.close();
  });

  test("a comment every heartbeat keeps a quiet stream busy", async () => {
    const { hub } = hubOver(new FakeEvents(), { heartbeatMs: 30 });
    const reader = await open(hub, null);
    // The first comment goes out at once (a server sends the answer's headers with its first bytes).
    expect(await reader.next(500)).toEqual({ comment: "connected" });
    expect(await reader.next(500)).toEqual({ comment: "keep-alive" });
    await hub.close();
  });

  test("close ends every stream after a last comment, stops watching, and refuses new streams", async () => {
    const events = new FakeEvents();
    const { hub, watch } = hubOver(events);
    const reader = await open(hub, null);
    events.append(1);
    hub.wake();
    expect(await positions(reader, 1)).toEqual([1]);
    await hub.close();
    expect((await reader.next())?.comment).toStartWith("服务正在停止");
    expect(await reader.next()).toBeNull();
    expect({ stops: watch.stops, open: hub.openStreams }).toEqual({ stops: 1, open: 0 });
    expect(await hub.open({ after: 0, opportunityCode: null })).toBe("stopping");
  });
});
