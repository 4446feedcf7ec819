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

export function consoleLogger(write: (line: string) => void = (line) => process.stderr.write(`${line}\n`), format: LogFormat = 'text'): Logger {
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    const time = new Date().toISOString();
    write(format === 'json' ? jsonLine(time, level, message, fields) : `${time} ${level} ${message}${formatFields(fields)}`);
  };
  return { info: log('info'), warn: log('warn'), error: log('error') };
}
