import { parseExactJsonBody } from "../../events/exact-json";
import { HttpFault, MESSAGES } from "./envelope";

export const DEFAULT_BODY_LIMIT = 64 * 1024;
// An oversize body is read and thrown away up to this much before answering 413: a client still sending when
// the server closes gets "broken pipe" instead of the 413 it should read.
export const DRAIN_CAP = 8 * 1024 * 1024;

const isJsonContentType = (value: string | null) =>
  value !== null && /^application\/json\s*(;|$)/i.test(value.trim());

type BodyReader = { read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>; cancel(): Promise<void> };

async function drain(reader: BodyReader, alreadyRead: number): Promise<void> {
  let total = alreadyRead;
  while (total < DRAIN_CAP) {
    const { done, value } = await reader.read();
    if (done) return;
    total += value.byteLength;
  }
  await reader.cancel();
}

/** Reads at most `limit` bytes of body, as Bun's own limit would answer 413 with an empty body. */
async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  // Made only when needed: an Error captures a stack trace, which every request would otherwise pay for.
  const tooLarge = () => new HttpFault(413, MESSAGES.tooLarge(limit), { connection: "close" });
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (!request.body) return new Uint8Array(0);
  // The common case: a declared length within the limit (Bun holds the body to it). One read, no stream loop.
  if (declared <= limit) return new Uint8Array(await request.arrayBuffer());
  const reader = request.body.getReader() as unknown as BodyReader;
  if (declared > limit) {
    await drain(reader, 0);
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await drain(reader, total);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The body of a write request: JSON by content type, within the size limit, valid UTF-8, 64-bit integers
 * kept exact. Throws an HttpFault (415, 413, 400) that names the problem.
 */
export async function readJsonBody(request: Request, limit: number): Promise<unknown> {
  if (!isJsonContentType(request.headers.get("content-type"))) throw new HttpFault(415, MESSAGES.unsupportedMediaType);
  const bytes = await readLimited(request, limit);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new HttpFault(400, MESSAGES.notUtf8);
  }
  if (text.trim() === "") throw new HttpFault(400, MESSAGES.emptyBody);
  try {
    return parseExactJsonBody(text);
  } catch {
    throw new HttpFault(400, MESSAGES.notJson);
  }
}
