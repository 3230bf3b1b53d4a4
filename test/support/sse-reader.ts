/**
 * Reads a Server-Sent Events body frame by frame, as the tests of the live event stream need it: each frame's
 * `id`, `event` and `data`, or its comment. A plain reader over the body, so that a test sees exactly what was
 * sent (the `eventsource` client, used end to end, hides comments and reconnects by itself).
 */
export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  /** The text of a comment line (`: text`). */
  comment?: string;
}

/** An event frame's data, parsed (the same JSON as one item of GET /api/events). */
export const eventOf = (frame: SseFrame) => JSON.parse(frame.data!) as { position: number; streamId: string; type: string; version: number };

function parseFrame(block: string): SseFrame {
  const frame: SseFrame = {};
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) frame.comment = line.slice(1).trim();
    else {
      const colon = line.indexOf(":");
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, "");
      if (field === "id" || field === "event" || field === "data") frame[field] = value;
    }
  }
  return frame;
}

/** What is read of a body: Bun's DOM and Node typings of stream readers disagree, so only what is used. */
interface BodyReader {
  read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>;
  cancel(): Promise<void>;
}

export class SseReader {
  private readonly reader: BodyReader;
  private readonly decoder = new TextDecoder();
  private buffered = "";
  private pending: ReturnType<BodyReader["read"]> | undefined;
  /** Whether the stream has ended (cleanly). */
  ended = false;

  constructor(body: ReadableStream<Uint8Array> | null) {
    if (body === null) throw new Error("no body");
    this.reader = body.getReader() as unknown as BodyReader;
  }

  /** The next frame, comments included; null once the stream has ended. Throws when nothing comes within `timeoutMs`. */
  async next(timeoutMs = 2_000): Promise<SseFrame | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffered.indexOf("\n\n");
      if (end >= 0) {
        const block = this.buffered.slice(0, end);
        this.buffered = this.buffered.slice(end + 2);
        return parseFrame(block);
      }
      if (this.ended) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      // A read that timed out is kept and awaited next time: its chunk must not be lost.
      this.pending ??= this.reader.read();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const result = await Promise.race([this.pending, new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), left)))]);
      clearTimeout(timer);
      if (result === "timeout") continue;
      this.pending = undefined;
      if (result.done) this.ended = true;
      else this.buffered += this.decoder.decode(result.value, { stream: true });
    }
  }

  /** The next `count` event frames, skipping comments. */
  async events(count: number, timeoutMs = 2_000): Promise<SseFrame[]> {
    const frames: SseFrame[] = [];
    while (frames.length < count) {
      const frame = await this.next(timeoutMs);
      if (frame === null) throw new Error(`the stream ended after ${frames.length} of ${count} events`);
      if (frame.comment === undefined) frames.push(frame);
    }
    return frames;
  }

  /** Asserts that no event frame comes within `ms` (comments are allowed). */
  async expectNoEvent(ms: number): Promise<void> {
    const until = Date.now() + ms;
    for (;;) {
      const left = until - Date.now();
      if (left <= 0) return;
      let frame: SseFrame | null;
      try {
        frame = await this.next(left);
      } catch {
        return;
      }
      if (frame === null) return;
      if (frame.comment === undefined) throw new Error(`an unexpected event: ${JSON.stringify(frame)}`);
    }
  }

  /** Stops reading: the server sees the consumer go away. */
  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}
