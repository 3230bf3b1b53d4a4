import { stringifyExactJson } from "../../events/exact-json";
import type { StoredEvent } from "../../events/stored-event";
import { presentEvent } from "./event-feed";

/**
 * The bytes of the live event stream (Server-Sent Events, text/event-stream): one frame per event, a comment to
 * keep a quiet connection open. A frame is built once per event and shared by every stream it is sent on.
 */

export const EVENT_STREAM_TYPE = "text/event-stream;charset=UTF-8";

const encoder = new TextEncoder();

/**
 * `id: <position>`, `event: <type>`, `data: <the event as one item of GET /api/events>`, and the blank line
 * that ends the frame. The JSON is one line (no raw line break survives JSON escaping) and keeps 64-bit IDs
 * exact, as the feed does. A type holding a line break (only a tampered row could) would end the frame early:
 * such characters are left out of the `event:` line, never out of `data`.
 */
export function eventFrame(event: StoredEvent): Uint8Array {
  const type = event.type.replace(/[\r\n]/g, "");
  return encoder.encode(`id: ${event.position}\nevent: ${type}\ndata: ${stringifyExactJson(presentEvent(event))}\n\n`);
}

/** A comment line: clients ignore it, proxies see traffic. */
export function commentFrame(text: string): Uint8Array {
  return encoder.encode(`: ${text.replace(/[\r\n]/g, " ")}\n\n`);
}
