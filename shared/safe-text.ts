// Safe terminal output: the one function every string from outside passes through before it is
// printed for a person (by the CLI, or by `access-broker doctor` showing a tenant's names). Strings
// the broker relays were typed by someone else — a resource name in
// a refused request, a request id in a URL, SQL text, a Postgres `application_name`, a WebSocket
// close reason — and a terminal obeys control characters in them: ESC sequences clear the screen,
// set the window title, recolour or overwrite lines (fake "approved" lines in an auditor's feed);
// bidi overrides make text read differently than it is stored. Here each such character is shown
// visibly instead (ESC as `\x1b`, a newline in a one-line field as `\n`, U+202E as `\u202e`), so an
// auditor sees what was sent and the terminal obeys nothing in it.
//
// `--json`, `--jsonl` and `--csv` carry the broker's values exactly (a script escapes for its own
// sink); only words for people go through here.

/** Line breaks kept as they are in multi-line text (an error message); escaped in a one-line field. */
const LINE_BREAK = '\n';

/** Escapes written the way people know them from C, JSON and shells. */
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Characters a terminal acts on or that reorder or break what is shown:
 * - C0 controls U+0000–U+001F (ESC, BEL, backspace, carriage return, …) and DEL U+007F;
 * - C1 controls U+0080–U+009F (U+009B is a one-character CSI on some terminals);
 * - bidi controls: ALM U+061C, LRM/RLM U+200E–U+200F, embeddings and overrides U+202A–U+202E,
 *   isolates U+2066–U+2069 (the "Trojan Source" characters);
 * - line and paragraph separators U+2028–U+2029, which some terminals and pagers break lines on.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is what this module is for
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

function visible(char: string): string {
  const named = NAMED[char];
  if (named !== undefined) return named;
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

export interface SafeTextOptions {
  /** Keep line breaks (`\n`) as line breaks: for text that is meant to span lines (an error message). Default false. */
  multiline?: boolean;
}

/** `text` with every control character shown visibly; in one-line text (the default) newlines too. */
export function safeText(text: string, options: SafeTextOptions = {}): string {
  return text.replace(UNSAFE, (char) => (options.multiline && char === LINE_BREAK ? char : visible(char)));
}

/**
 * A copy of a broker answer (an object, array or string from JSON) with every string made safe by
 * `safeText` (keys too), for the words a command prints for people. Print `--json` from the original.
 */
export function displayable<T>(value: T): T {
  return walk(value) as T;
}

function walk(value: unknown): unknown {
  if (typeof value === 'string') return safeText(value);
  if (Array.isArray(value)) return value.map(walk);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [safeText(key), walk(inner)]));
  }
  return value;
}
