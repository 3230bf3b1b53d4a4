import { describe, expect, test } from "bun:test";
import { escapeForTerminal } from "../../src/cli/terminal-text";

describe("escapeForTerminal", () => {
  test("C0 controls, DEL and C1 controls become visible escapes; \\n \\r \\t by name", () => {
    expect(escapeForTerminal("a\nb\rc\td")).toBe("a\\nb\\rc\\td");
    expect(escapeForTerminal("\u0000\u0007\u001b[2J\u007f\u0080\u009b31m")).toBe("\\u0000\\u0007\\u001b[2J\\u007f\\u0080\\u009b31m");
  });

  test("line and paragraph separators and the bidirectional controls are escaped", () => {
    expect(escapeForTerminal("x\u2028y\u2029z")).toBe("x\\u2028y\\u2029z");
    const bidi = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c";
    expect(escapeForTerminal(bidi)).toBe("\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069\\u200e\\u200f\\u061c");
  });

  test("everything else is kept as it is: Chinese, emoji, quotes, backslashes, spaces", () => {
    const text = '华东数据中心 ✓ 😀 "q" C:\\path a b ¥ é';
    expect(escapeForTerminal(text)).toBe(text);
  });

  test("every code point below U+00A0 that is not printable ASCII is escaped; printable ASCII is not", () => {
    for (let code = 0; code < 0xa0; code++) {
      const char = String.fromCharCode(code);
      const printable = code >= 0x20 && code < 0x7f;
      expect({ code, escaped: escapeForTerminal(char) !== char }).toEqual({ code, escaped: !printable });
    }
  });
});
