/**
 * Characters that would let stored text act on the terminal instead of being read: C0 controls (a newline
 * forges a line of output, ESC starts a sequence that can rewrite the screen), DEL, C1 controls (0x9B is a
 * one-byte CSI), the line and paragraph separators, and the bidirectional controls that reorder what is shown
 * (U+202A–U+202E, U+2066–U+2069, and the marks U+200E, U+200F, U+061C).
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

const escapeOne = (char: string) => NAMED[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * Text safe to print in human-readable CLI output: every character above is shown as a visible escape (`\n`,
 * `\u001b`, `\u202e`), everything else as it is. Apply it to anything that came from the database, a file
 * or the command line before it reaches stdout or stderr.
 */
export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}
