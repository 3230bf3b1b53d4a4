import { createReadStream } from "node:fs";

/**
 * The longest NDJSON line `import` and `restore` read. Far above any event row or create body the service
 * accepts (its text fields have length limits and its bodies at most 16 MiB), and low enough that one hostile
 * line cannot take the memory of the machine: a longer line is refused, not buffered.
 */
export const MAX_NDJSON_LINE_BYTES = 16 * 1048576;

/**
 * One line of an NDJSON file: its text, or why it cannot be read (`kind` for callers that word it their own
 * way). Numbered from 1, blank lines included.
 */
export type NdjsonLine = { number: number; text: string } | { number: number; kind: "utf8" | "length"; problem: string };

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const BOM = [0xef, 0xbb, 0xbf];

function startsWithBom(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === BOM[0] && bytes[1] === BOM[1] && bytes[2] === BOM[2];
}

/**
 * Splits NDJSON bytes into lines on `\n` only (a `\r` before it is dropped). Not `readline`, which also splits
 * on U+2028 and U+2029: JSON allows both raw inside strings, so a stored description holding one would cut its
 * row in two. Each line is decoded as strict UTF-8: invalid bytes are named with the line number instead of
 * silently becoming U+FFFD. A UTF-8 byte order mark at the start of the input is skipped. A line longer than
 * `maxLineBytes` is reported as a problem and skipped up to the next newline, without being held in memory.
 */
export async function* ndjsonLines(chunks: AsyncIterable<Uint8Array>, maxLineBytes = MAX_NDJSON_LINE_BYTES): AsyncGenerator<NdjsonLine> {
  // A fresh, non-streaming decode per line: `ignoreBOM` keeps a U+FEFF inside the data as data.
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let parts: Uint8Array[] = [];
  let length = 0;
  let tooLong = false;
  let number = 0;

  const finish = (): NdjsonLine => {
    number += 1;
    let line = joinLine(parts, length);
    parts = [];
    length = 0;
    if (number === 1 && startsWithBom(line)) line = line.subarray(BOM.length);
    if (tooLong || line.length > maxLineBytes) {
      tooLong = false;
      return { number, kind: "length", problem: `longer than ${maxLineBytes} bytes` };
    }
    try {
      return { number, text: decoder.decode(line) };
    } catch {
      return { number, kind: "utf8", problem: "not valid UTF-8" };
    }
  };
  const keep = (piece: Uint8Array) => {
    if (tooLong) return;
    // + 4: a byte order mark and the `\r` of a CRLF line may still be attached here.
    if (length + piece.length > maxLineBytes + 4) {
      tooLong = true;
      parts = [];
      length = 0;
      return;
    }
    parts.push(piece);
    length += piece.length;
  };

  for await (const chunk of chunks) {
    let start = 0;
    for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, start)) {
      keep(chunk.subarray(start, at));
      yield finish();
      start = at + 1;
    }
    // Copied (a Buffer's slice is a view): the stream may reuse its memory for the next chunk.
    if (start < chunk.length) keep(new Uint8Array(chunk.subarray(start)));
  }
  if (length > 0 || tooLong) yield finish();
}

/** The line's bytes without a trailing `\r`; too-long lines arrive here empty. */
function joinLine(parts: Uint8Array[], length: number): Uint8Array {
  let line: Uint8Array;
  if (parts.length === 1) line = parts[0]!;
  else {
    line = new Uint8Array(length);
    let offset = 0;
    for (const part of parts) {
      line.set(part, offset);
      offset += part.length;
    }
  }
  return line.length > 0 && line[line.length - 1] === CARRIAGE_RETURN ? line.subarray(0, line.length - 1) : line;
}

/** The lines of an NDJSON file (see ndjsonLines). */
export function ndjsonFileLines(path: string, maxLineBytes = MAX_NDJSON_LINE_BYTES): AsyncGenerator<NdjsonLine> {
  return ndjsonLines(createReadStream(path) as AsyncIterable<Uint8Array>, maxLineBytes);
}
