/**
 * User-given text inside messages: a value is shown quoted, with invisible characters escaped
 * (`"919810001000\u200b"`) and cut short, so a bad line of a binary file or a 60 KB cell cannot
 * flood the terminal or the JSON error envelope.
 */

/** Longest quoted value in a message (escapes included), before the "…". */
export const SHOWN_VALUE_CHARS = 64;

/**
 * Characters that do not show, or show as something else: controls, format characters (zero-width
 * spaces and joiners, bidi marks, BOM), line/paragraph separators, unusual spaces, private-use and
 * unassigned code points, and U+FFFD (what a byte that is not UTF-8 decodes to).
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\p{Cs}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\ufffd]/u;

const SHORT_ESCAPES: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '"': '\\"', '\\': '\\\\' };

function escapeChar(ch: string): string {
  const short = SHORT_ESCAPES[ch];
  if (short) return short;
  if (!INVISIBLE.test(ch)) return ch;
  const code = ch.codePointAt(0)!;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** The escaped text, at most `max` characters long (a cut is marked with "…"). */
export function escapeText(value: string, max = SHOWN_VALUE_CHARS): string {
  let out = '';
  for (const ch of value) {
    const shown = escapeChar(ch);
    if (out.length + shown.length > max) return `${out}…`;
    out += shown;
  }
  return out;
}

/** `"value"` for a message: escaped and cut (see escapeText). */
export function quoteValue(value: string, max = SHOWN_VALUE_CHARS): string {
  return `"${escapeText(value, max)}"`;
}

/** Whether a value has a character escapeText would escape as invisible. */
export function hasInvisible(value: string): boolean {
  return INVISIBLE.test(value);
}

/**
 * What is wrong with the characters of a text value, or undefined: bytes that were not UTF-8
 * (decoded as U+FFFD) or a control character (NUL, BEL, ESC…; also tab and line breaks unless
 * `allowWhitespace`).
 */
export function characterProblem(value: string, options: { allowWhitespace?: boolean } = {}): string | undefined {
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (c === 0xfffd) return 'is not valid UTF-8';
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      if (options.allowWhitespace && (c === 9 || c === 10 || c === 13)) continue;
      return `has a control character (${escapeChar(value[i]!)})`;
    }
  }
  return undefined;
}
