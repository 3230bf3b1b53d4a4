/**
 * The one NDJSON line reader of `import` and `restore`: splits on `\n` only (JSON allows raw U+2028/U+2029 in
 * strings, which `readline` also split on), drops the `\r` of CRLF, names invalid UTF-8 and over-long lines by
 * number instead of replacing or buffering them, and skips a byte order mark at the start.
 */
import { describe, expect, test } from "bun:test";
import { ndjsonLines, type NdjsonLine } from "../../src/audit/ndjson-lines";

const utf8 = (text: string) => new TextEncoder().encode(text);

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}

async function linesOf(bytes: Uint8Array, options: { chunk?: number; max?: number } = {}): Promise<NdjsonLine[]> {
  const lines: NdjsonLine[] = [];
  for await (const line of ndjsonLines(chunked(bytes, options.chunk ?? 65536), options.max)) lines.push(line);
  return lines;
}

const concat = (...parts: (string | number[])[]) => {
  const arrays = parts.map((part) => (typeof part === "string" ? utf8(part) : Uint8Array.from(part)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let offset = 0;
  for (const array of arrays) {
    out.set(array, offset);
    offset += array.length;
  }
  return out;
};

describe("splitting", () => {
  const text = `{"d":"a\u2028b\u2029c"}\n\n{"n":2}\r\nlast without newline`;
  const expected = [
    { number: 1, text: `{"d":"a\u2028b\u2029c"}` },
    { number: 2, text: "" },
    { number: 3, text: `{"n":2}` },
    { number: 4, text: "last without newline" },
  ];

  test("on \\n only: U+2028 and U+2029 stay inside their line; blank lines are counted; CRLF loses its \\r", async () => {
    expect(await linesOf(utf8(text))).toEqual(expected);
  });

  test("the same lines whatever the chunk boundaries (inside a multi-byte character, between \\r and \\n)", async () => {
    for (const size of [1, 2, 3, 5, 7]) expect(await linesOf(utf8(text), { chunk: size })).toEqual(expected);
  });

  test("a \\r not followed by \\n is part of the line", async () => {
    expect(await linesOf(utf8("a\rb\nc\r\n"))).toEqual([
      { number: 1, text: "a\rb" },
      { number: 2, text: "c" },
    ]);
  });

  test("empty input has no lines; a final newline does not add one", async () => {
    expect(await linesOf(new Uint8Array())).toEqual([]);
    expect(await linesOf(utf8("x\n"))).toEqual([{ number: 1, text: "x" }]);
  });
});

describe("bytes that are not text", () => {
  test("invalid UTF-8 is named by its line number, never turned into U+FFFD; the other lines are read", async () => {
    const bytes = concat('{"a":1}\n{"b":"', [0xff, 0xfe], '"}\n{"c":"', [0xe4, 0xb8], '"}\n{"d":"\u4e2d"}\n');
    for (const size of [1, 4, 65536]) {
      expect(await linesOf(bytes, { chunk: size })).toEqual([
        { number: 1, text: '{"a":1}' },
        { number: 2, kind: "utf8", problem: "not valid UTF-8" },
        { number: 3, kind: "utf8", problem: "not valid UTF-8" },
        { number: 4, text: '{"d":"中"}' },
      ]);
    }
  });

  test("a byte order mark at the start of the file is skipped; anywhere else it is data", async () => {
    const bytes = concat([0xef, 0xbb, 0xbf], '{"a":1}\n', [0xef, 0xbb, 0xbf], '{"b":2}\n');
    for (const size of [1, 2, 65536]) {
      expect(await linesOf(bytes, { chunk: size })).toEqual([
        { number: 1, text: '{"a":1}' },
        { number: 2, text: '\ufeff{"b":2}' },
      ]);
    }
  });
});

describe("line length", () => {
  test("a line over the limit is a problem with its number, and the next lines are still read", async () => {
    const long = "x".repeat(100);
    const bytes = utf8(`${"y".repeat(10)}\n${long}\n${"z".repeat(10)}\r\n${long}`);
    for (const size of [1, 7, 65536]) {
      expect(await linesOf(bytes, { chunk: size, max: 10 })).toEqual([
        { number: 1, text: "y".repeat(10) },
        { number: 2, kind: "length", problem: "longer than 10 bytes" },
        { number: 3, text: "z".repeat(10) },
        { number: 4, kind: "length", problem: "longer than 10 bytes" },
      ]);
    }
  });

  test("exactly the limit is accepted, one byte more is not", async () => {
    expect(await linesOf(utf8("abcd\nabcde\n"), { max: 4 })).toEqual([
      { number: 1, text: "abcd" },
      { number: 2, kind: "length", problem: "longer than 4 bytes" },
    ]);
  });
});
