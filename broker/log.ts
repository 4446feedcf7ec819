// The broker's operational log on stderr, one line per event. Text by default for people
// (`time level message key=value…`); `--log-format json` writes one JSON object per line for a
// log shipper (`{"time","level","msg",…fields}`). (The audit log is a different thing, kept in the store.)

/** Where every part of the broker writes its operational log; tests pass a recording one. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The keys every JSON line has; a field of the same name is written as `field.<name>` so it cannot overwrite them. */
const JSON_LINE_KEYS: ReadonlySet<string> = new Set(['time', 'level', 'msg']);

function formatFields(fields: Record<string, unknown> | undefined): string {
  if (!fields) return '';
  return Object.entries(fields)
    .map(([key, value]) => ` ${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`)
    .join('');
}

function jsonLine(time: string, level: string, message: string, fields: Record<string, unknown> | undefined): string {
  const line: Record<string, unknown> = { time, level, msg: message };
  for (const [key, value] of Object.entries(fields ?? {})) line[JSON_LINE_KEYS.has(key) ? `field.${key}` : key] = value;
  // An Error or a bigint in a field must not lose the line: it is written as its text.
  return JSON.stringify(line, (_key, value: unknown) => (value instanceof Error ? value.message : typeof value === 'bigint' ? value.toString() : value));
}

/** Lines waiting for the end of this event-loop turn (TurnLines). */
export interface TurnLines {
  /** Queues `line` (without its newline); it is written at the end of this turn or by `flush`. */
  add(line: string): void;
  /** Writes what is queued now, in one write. */
  flush(): void;
}

/**
 * Lines added in one event-loop turn, written together at its end (setImmediate) in one `write`,
 * in the order they came. A write to a pipe or a file is synchronous in Node on Linux (a system call
 * each): with two lines per tunnel (opened, closed), the broker spent 5 % of its CPU under many new
 * tunnels writing them one by one, and a busy turn carries two or three. Nothing is dropped or
 * reordered; a line waits at most for the end of its turn.
 */
export function turnLines(write: (text: string) => void): TurnLines {
  let queued: string[] = [];
  let scheduled: NodeJS.Immediate | null = null;
  const flush = (): void => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = null;
    if (queued.length === 0) return;
    const text = `${queued.join('\n')}\n`;
    queued = [];
    write(text);
  };
  return {
    add(line) {
      queued.push(line);
      if (scheduled) return;
      scheduled = setImmediate(flush);
      // A queued line must not keep the process alive; the exit hook below writes it.
      scheduled.unref();
    },
    flush,
  };
}

let stderrLines: TurnLines | null = null;

/**
 * The broker's stderr, a turn at a time (turnLines): one queue per process, so every logger's lines
 * keep their order, written at exit too — on process.exit, on an uncaught exception (before Node
 * prints it) and when the event loop empties.
 */
function stderr(): TurnLines {
  if (stderrLines) return stderrLines;
  const lines = turnLines((text) => process.stderr.write(text));
  process.on('exit', () => lines.flush());
  stderrLines = lines;
  return lines;
}

/** Writes the log lines still queued: call it before writing to stderr directly, so the order holds. */
export function flushLogLines(): void {
  stderrLines?.flush();
}

export function consoleLogger(write: (line: string) => void = (line) => stderr().add(line), format: LogFormat = 'text'): Logger {
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    const time = new Date().toISOString();
    write(format === 'json' ? jsonLine(time, level, message, fields) : `${time} ${level} ${message}${formatFields(fields)}`);
  };
  return { info: log('info'), warn: log('warn'), error: log('error') };
}
