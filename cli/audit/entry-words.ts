// How one audit entry reads for a person: the event in a few words from its body ("asked for 1h —
// "INC-7: stuck migration"", "tunnel closed (client closed): ↑12 B ↓80 B"), and the shared pieces
// (timestamps, byte counts, end reasons) that `audit sessions`, `audit show` and `audit events`
// print the same way. `--json` / `--jsonl` carry the entries whole; these words are for reading.
//
// Times are the reader's local wall clock, to the millisecond: queries a few ms apart stay in order.

import { formatDuration } from '../../shared/duration.js';
import { AUDIT_EVENT_TYPES, type ActorView, type AuditEntryView } from '../../shared/wire.js';
import { actorName } from '../request-format.js';
import { safeText } from '../../shared/safe-text.js';

/** SQL longer than this is cut on a line of text (the entry itself keeps up to 8 KiB of it). */
export const SQL_LINE_CHARS = 200;

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** "2025-03-04 14:02:11.123", local time. */
export function timestamp(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** "UTC+01:00": the zone `timestamp` writes in, for a header or a notice. */
export function localZone(at: number): string {
  const offset = -new Date(at).getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** "812 B", "4.0 KiB", "1.2 GiB"; "-" when unknown. */
export function bytes(n: number | null): string {
  if (n === null) return '-';
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** A session's end reason in words: "grantExpired" → "grant expired", "broker_restart" → "broker restart". */
export function endWords(reason: string | null): string {
  if (reason === null) return 'open';
  return reason
    .replace(/_/g, ' ')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
}

/**
 * The cells of a line for people, each shown safely (shared/safe-text.ts): the audit log holds what
 * anyone sent (resource names, SQL, application_name, close reasons). Free text is flattened by
 * `oneLine` first, so SQL still reads on one line; what remains (ESC, a newline in a name) is shown
 * visibly rather than obeyed by the terminal.
 */
export function safeCells(cells: readonly string[]): string[] {
  return cells.map((text) => safeText(text));
}

/** Text on one line: whitespace runs (newlines in SQL, a pasted reason) become one space. */
export function oneLine(text: string, width = Number.POSITIVE_INFINITY): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

/** "1 entry", "12 entries". */
export function entries(n: number): string {
  return `${n} ${n === 1 ? 'entry' : 'entries'}`;
}

export function who(actor: ActorView | null): string {
  return actor ? actorName(actor) : 'broker';
}

function str(body: Record<string, unknown>, key: string): string | null {
  const value = body[key];
  return typeof value === 'string' && value !== '' ? value : null;
}

function num(body: Record<string, unknown>, key: string): number | null {
  const value = body[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function quoted(text: string | null): string {
  return text === null ? '' : ` — "${oneLine(text)}"`;
}

function until(body: Record<string, unknown>): string {
  const end = str(body, 'expiresAt');
  return end ? `access until ${timestamp(end)}` : 'access granted';
}

/** What happened, in a few words, from the entry's type and body. */
export function describeEntry(entry: AuditEntryView): string {
  const body = entry.body;
  // As a string: kinds added to the log later (by a newer broker) reach the default, not a type error.
  const type: string = entry.type;
  switch (type) {
    case 'signin.seen': {
      const name = str(body, 'name');
      return `first call with a new token (${str(body, 'kind') ?? 'user'}${name ? `, ${name}` : ''})`;
    }
    case 'request.created': {
      const duration = num(body, 'durationMs');
      const ticket = str(body, 'ticket');
      return `asked for ${duration === null ? 'access' : formatDuration(duration)}${quoted(str(body, 'reason'))}${ticket ? ` (ticket ${ticket})` : ''}`;
    }
    case 'request.auto_approved':
      return `approved by policy, ${until(body)}`;
    case 'request.review_recorded': {
      const decision = str(body, 'decision');
      return `${decision === 'deny' ? 'denied' : 'approved'}${quoted(str(body, 'comment'))}`;
    }
    case 'request.approved': {
      const approvers = Array.isArray(body.approvers) ? body.approvers.filter((a): a is string => typeof a === 'string') : [];
      return `granted, ${until(body)}${approvers.length ? ` (approved by ${approvers.join(', ')})` : ''}`;
    }
    case 'request.denied':
      return `denied${quoted(str(body, 'reason'))}`;
    case 'request.cancelled':
      return 'cancelled';
    case 'request.timed_out':
      return 'timed out: nobody decided in time';
    case 'request.expired':
      return 'access ended (expired)';
    case 'request.revoked':
      return `revoked${quoted(str(body, 'reason'))}`;
    case 'request.extension_requested':
      return `asked for ${extraTime(body)} more${quoted(str(body, 'reason'))}`;
    case 'request.extension_review_recorded': {
      const decision = str(body, 'decision');
      return `extension ${decision === 'deny' ? 'denied' : 'approved'}${quoted(str(body, 'comment'))}`;
    }
    case 'request.extended': {
      const approvers = Array.isArray(body.approvers) ? body.approvers.filter((a): a is string => typeof a === 'string') : [];
      return `extended by ${extraTime(body)}, ${until(body)} (approved by ${approvers.length ? approvers.join(', ') : 'policy'})`;
    }
    case 'request.extension_denied':
      return `extension of ${extraTime(body)} denied; the grant is unchanged`;
    case 'request.extension_lapsed':
      return `extension of ${extraTime(body)} lapsed: the grant ended before a decision`;
    case 'request.break_glass':
      return `BREAK-GLASS access taken without approval, ${until(body)}${quoted(str(body, 'reason'))}`;
    case 'request.post_reviewed':
      return `post-review: ${str(body, 'verdict') === 'acceptable' ? 'acceptable' : 'NOT acceptable'}${quoted(str(body, 'comment'))}`;
    case 'policy.refused':
      // A resource condition's refusal names it: "refused connect (mfa_required, condition requireMfa): …".
      return `refused ${str(body, 'action') ?? 'an action'} (${str(body, 'code') ?? 'refused'}${str(body, 'condition') ? `, condition ${str(body, 'condition')}` : ''}): ${oneLine(str(body, 'message') ?? '')}`;
    case 'session.opened':
      return `${body.breakGlass === true ? 'BREAK-GLASS ' : ''}tunnel opened from ${str(body, 'client') ?? 'an unknown address'} to ${str(body, 'target') ?? 'the target'}`;
    case 'session.closed': {
      const queries = num(body, 'queries');
      const detail = str(body, 'detail');
      return (
        `tunnel closed (${endWords(str(body, 'endReason'))}): ↑${bytes(num(body, 'bytesUp'))} ↓${bytes(num(body, 'bytesDown'))}` +
        `${queries === null ? '' : `, ${queries} ${queries === 1 ? 'query' : 'queries'}`}${detail ? ` — ${oneLine(detail)}` : ''}`
      );
    }
    case 'pg.query':
      return `${body.truncated === true ? '(cut) ' : ''}${oneLine(str(body, 'sql') ?? '', SQL_LINE_CHARS)}`;
    case 'pg.startup': {
      const app = str(body, 'applicationName');
      return `postgres session for database ${str(body, 'database') ?? '?'} as ${str(body, 'dbUser') ?? '?'}${app ? ` (${app})` : ''}`;
    }
    case 'pg.copy':
      return `COPY data sent: ${num(body, 'messages') ?? '?'} messages, ${bytes(num(body, 'bytes'))} (${str(body, 'outcome') ?? 'unknown outcome'}); the data itself is not logged`;
    case 'pg.cancelled':
      return `cancelled the running query of backend ${num(body, 'backendPid') ?? '?'} when the tunnel was cut (${endWords(str(body, 'cut'))})`;
    case 'pg.capture_degraded':
      return `stopped reading queries at byte ${num(body, 'atByte') ?? '?'}: ${oneLine(str(body, 'reason') ?? 'unreadable data')} (bytes still flow)`;
    case 'pg.unrecordable':
      return `ended the session at byte ${num(body, 'atByte') ?? '?'}, which it could not record: ${oneLine(str(body, 'reason') ?? 'unreadable data')} (none of it reached the database)`;
    case 'forward_auth.allowed':
      return `let through the proxy ${num(body, 'count') ?? '?'} times between ${timestamp(str(body, 'firstAt') ?? '')} and ${timestamp(str(body, 'lastAt') ?? '')}`;
    case 'forward_auth.refused':
      return `refused at the proxy ${num(body, 'count') ?? '?'} times (${str(body, 'code') ?? 'refused'}): ${oneLine(str(body, 'message') ?? '')}`;
    case 'http.request': {
      const upgrade = str(body, 'upgrade');
      return `${httpLine(body)}${upgrade ? ` (upgrade to ${upgrade})` : ''}`;
    }
    case 'http.response': {
      const status = num(body, 'status');
      const outcome = str(body, 'outcome');
      const detail = str(body, 'detail');
      const ended = outcome === 'complete' || outcome === null ? '' : ` — ${endWords(outcome)}${detail ? `: ${oneLine(detail)}` : ''}`;
      return `${httpLine(body)} → ${status ?? 'no status'}: ↑${bytes(num(body, 'bytesUp'))} ↓${bytes(num(body, 'bytesDown'))} in ${num(body, 'durationMs') ?? '?'} ms${ended}`;
    }
    case 'grpc.call':
      return `call ${oneLine(str(body, 'method') ?? '?', SQL_LINE_CHARS)}`;
    case 'grpc.status': {
      const status = num(body, 'grpcStatus');
      const message = str(body, 'grpcMessage');
      const outcome = str(body, 'outcome');
      const detail = str(body, 'detail');
      const ended = outcome === 'complete' || outcome === null ? '' : ` — ${endWords(outcome)}${detail ? `: ${oneLine(detail)}` : ''}`;
      return (
        `call ${oneLine(str(body, 'method') ?? '?', SQL_LINE_CHARS)} → ${status === null ? 'no status' : grpcStatusWords(status)}${message && status !== 0 ? ` "${oneLine(message)}"` : ''}: ` +
        `↑${bytes(num(body, 'bytesUp'))} ↓${bytes(num(body, 'bytesDown'))} in ${num(body, 'durationMs') ?? '?'} ms${ended}`
      );
    }
    case 'mysql.query': {
      const params = Array.isArray(body.params) ? ` [${body.params.map(paramWords).join(', ')}]` : '';
      return `${body.truncated === true ? '(cut) ' : ''}${oneLine(str(body, 'sql') ?? `(statement ${num(body, 'statementId') ?? '?'}, text not seen)`, SQL_LINE_CHARS)}${params}`;
    }
    case 'mysql.handshake': {
      const program = str(body, 'program');
      return `mysql session for database ${str(body, 'database') ?? '(none)'} as ${str(body, 'dbUser') ?? '?'}${program ? ` (${program})` : ''}, server connection ${num(body, 'connectionId') ?? '?'}`;
    }
    case 'mysql.command':
      return mysqlCommandWords(body);
    case 'mysql.killed':
      return `killed the running statement of connection ${num(body, 'connectionId') ?? '?'} when the tunnel was cut (${endWords(str(body, 'cut'))})`;
    case 'mysql.unrecordable':
      return `ended the session at byte ${num(body, 'atByte') ?? '?'}, which it could not record: ${oneLine(str(body, 'reason') ?? 'unreadable data')} (none of it reached the database)`;
    case 'db.login': {
      const method = str(body, 'method');
      const how = `as ${str(body, 'dbUser') ?? '?'} with the stored login ${str(body, 'credential') ?? '?'}${method ? ` (${method})` : ''}`;
      return str(body, 'outcome') === 'accepted'
        ? `the broker logged in to the database ${how}`
        : `the database refused the broker's login ${how}: ${oneLine(str(body, 'reason') ?? 'no reason given')}`;
    }
    case 'audit.dropped':
      return `${num(body, 'count') ?? 'some'} query entries were lost between ${timestamp(str(body, 'firstAt') ?? '')} and ${timestamp(str(body, 'lastAt') ?? '')} (the database refused writes meanwhile)`;
    default:
      // A kind this CLI does not know yet (a newer broker): its body as it is.
      return JSON.stringify(body);
  }
}

/** gRPC status codes by number (grpc/doc/statuscodes.md). */
const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** "0 OK", "5 NOT_FOUND", "42" (a code gRPC does not define). */
function grpcStatusWords(status: number): string {
  const name = GRPC_STATUS_NAMES[status];
  return name ? `${status} ${name}` : String(status);
}

/** "GET /api/health" of an http entry, the path cut on a line of text. */
function httpLine(body: Record<string, unknown>): string {
  return `${str(body, 'method') ?? '?'} ${oneLine(str(body, 'path') ?? '', SQL_LINE_CHARS)}${body.pathChars === undefined ? '' : ' (cut)'}`;
}

/** The time an extension entry adds: "30m". */
function extraTime(body: Record<string, unknown>): string {
  const ms = num(body, 'durationMs');
  return ms === null ? 'more time' : formatDuration(ms);
}

/** The widest event type, so a feed's columns line up without knowing what comes next. */
const TYPE_WIDTH = Math.max(...AUDIT_EVENT_TYPES.map((type) => type.length));

/**
 * One line of `audit events`: "#12  2025-03-04 14:02:11.123  request.created  alice@… demo-db r7f3…  asked for 1h — "…"".
 * Fixed columns for seq and type; the rest separated by two spaces.
 */
export function entryLine(entry: AuditEntryView): string {
  const cells = [
    `#${entry.seq}`,
    timestamp(entry.at),
    entry.type.padEnd(TYPE_WIDTH),
    who(entry.actor),
    entry.resource ?? '-',
    entry.subject ?? '-',
    describeEntry(entry),
  ];
  return safeCells(cells).join('  ');
}

/** A MySQL command that is not a statement (mysql.command), in words. */
function mysqlCommandWords(body: Record<string, unknown>): string {
  const command = str(body, 'command') ?? 'command';
  switch (command) {
    case 'prepare':
      return `prepared ${body.truncated === true ? '(cut) ' : ''}${oneLine(str(body, 'sql') ?? '', SQL_LINE_CHARS - 9)}`;
    case 'initDb':
      return `changed the default database to ${str(body, 'database') ?? '?'} (COM_INIT_DB)`;
    case 'changeUser':
      return `changed the database user to ${str(body, 'dbUser') ?? '?'}${str(body, 'database') ? `, database ${str(body, 'database')}` : ''} (COM_CHANGE_USER)`;
    case 'processKill':
      return `asked the server to kill connection ${num(body, 'connectionId') ?? '?'} (COM_PROCESS_KILL)`;
    case 'localInfile':
      return `LOAD DATA LOCAL file sent: ${num(body, 'packets') ?? '?'} packets, ${bytes(num(body, 'bytes'))} (${str(body, 'outcome') ?? 'unknown outcome'}); the data itself is not logged`;
    default: {
      const { command: _command, ...rest } = body;
      return `${command} ${oneLine(JSON.stringify(rest))}`;
    }
  }
}

/** A bound parameter in a statement line: text quoted, NULL bare, a cut value with its size. */
function paramWords(value: unknown): string {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null && 'text' in value)
    return `${JSON.stringify(String(value.text))}… (${String((value as { bytes?: unknown }).bytes)} bytes)`;
  return JSON.stringify(value);
}
