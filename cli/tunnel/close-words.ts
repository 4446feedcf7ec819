// Why a tunnel closed, in the words a person reads ("access expired at 14:32", "revoked by
// bob@contoso.dev: done", "the database closed the connection"), and what it means for the
// command: the grant endings (expiry, revoke, lost membership) end every tunnel of the grant and
// `access connect` itself; the others end one connection.

import { CLOSE_REASONS, CloseCode } from '../../shared/close-codes.js';
import { ExitCode } from '../../shared/errors.js';
import { clockTime } from '../request-format.js';
import { safeText } from '../../shared/safe-text.js';

export interface TunnelClose {
  code: number;
  reason: string;
}

/** What the words need to know about the resource and its grant. */
export interface TunnelSubject {
  name: string;
  kind: string;
  /** The grant's end (ISO), used when the broker's expiry reason carries no time. */
  expiresAt: string | null;
}

/** RFC 6455: a normal closure. */
const NORMAL = 1000;
/** RFC 6455: a close frame without a status code. */
const NO_STATUS = 1005;
/** RFC 6455: the socket was lost without a close frame. */
const ABNORMAL = 1006;
/** RFC 6455: the broker hit an unexpected condition. */
const INTERNAL_ERROR = 1011;

/** The broker's expiry reason: "access expired at <ISO time>". */
const EXPIRED_AT = /^access expired at (\S+)/;

/** Close codes that end the grant itself, with the exit code `access connect` ends with. */
const GRANT_ENDINGS: Partial<Record<number, ExitCode>> = {
  // Reaching the end of the granted time is the normal end of a session.
  [CloseCode.grantExpired]: ExitCode.ok,
  [CloseCode.grantRevoked]: ExitCode.denied,
  [CloseCode.membershipLost]: ExitCode.denied,
  // The resource's conditions (its time window, the sign-in's age) cut every tunnel of the grant alike.
  [CloseCode.outsideHours]: ExitCode.denied,
  [CloseCode.conditionUnmet]: ExitCode.denied,
};

/** The exit code when `close` ended the grant (every tunnel, and the command); null when it ended one connection. */
export function grantEndingExit(close: TunnelClose): ExitCode | null {
  return GRANT_ENDINGS[close.code] ?? null;
}

/** Whether a tunnel ended the ordinary way: either side closed it, or the target ended the session. */
export function isNormalEnd(close: TunnelClose): boolean {
  return close.code === NORMAL || close.code === NO_STATUS || close.code === CloseCode.targetClosed;
}

/**
 * The exit code of a single tunnel that ended with `close` (`--stdio`): the grant endings as above,
 * 0 when the tunnel ended normally, 1 when it was cut.
 */
export function tunnelExit(close: TunnelClose): ExitCode {
  return grantEndingExit(close) ?? (isNormalEnd(close) ? ExitCode.ok : ExitCode.error);
}

/**
 * Whether the broker holding the tunnel is gone (it died, or was stopped): the tunnel is lost, but
 * not the grant. Behind a load balancer the next tunnel is opened through another broker.
 */
export function isBrokerGone(close: TunnelClose): boolean {
  return close.code === ABNORMAL || close.code === CloseCode.goingAway;
}

/** What sits behind the tunnel, as people call it. */
function targetNoun(kind: string): string {
  switch (kind) {
    case 'postgres':
    case 'mysql':
      return 'database';
    case 'ssh':
      return 'host';
    default:
      return 'target';
  }
}

function expiredWords(reason: string, subject: TunnelSubject, now: number): string {
  const stated = EXPIRED_AT.exec(reason)?.[1];
  const at = Date.parse(stated ?? subject.expiresAt ?? '');
  return Number.isNaN(at) ? CLOSE_REASONS[CloseCode.grantExpired] : `access expired at ${clockTime(at, now)}`;
}

/** Why the tunnel closed, in words; `now` only decides how the expiry time reads (today or a date). */
export function closeWords(close: TunnelClose, subject: TunnelSubject, now: number): string {
  const code = close.code;
  // The reason is the broker's (or whoever answers on its URL): shown safely.
  const reason = safeText(close.reason);
  switch (code) {
    case CloseCode.grantExpired:
      return expiredWords(reason, subject, now);
    case CloseCode.grantRevoked:
      // The broker's reason already reads "revoked by bob@contoso.dev: <their reason>".
      return reason || CLOSE_REASONS[CloseCode.grantRevoked];
    case CloseCode.membershipLost:
      return `you are no longer in a group allowed to use ${subject.name}`;
    case CloseCode.membershipUnconfirmed:
      // The broker's reason says for how long: "… could not be confirmed for 2m (the directory is unavailable)".
      return reason || CLOSE_REASONS[CloseCode.membershipUnconfirmed];
    case CloseCode.outsideHours:
      // "the time window of prod-db (Mon-Fri 07:00-19:00 Europe/Berlin) closed"
      return reason || CLOSE_REASONS[CloseCode.outsideHours];
    case CloseCode.conditionUnmet:
      // The condition's own words, e.g. "prod-db requires a sign-in within the last 8h; … Run `access login` again."
      return reason || CLOSE_REASONS[CloseCode.conditionUnmet];
    case CloseCode.idleTimeout:
      return 'idle too long';
    case CloseCode.unrecordable:
      // The broker's reason names what it saw, e.g. "unknown message type 0x16 ('\x16')".
      return `the broker ended the session: it could not record what the client sent${reason ? ` (${reason})` : ''}`;
    case CloseCode.credentialRefused:
      // The broker's reason names the resource's stored login and what the database said.
      return reason || CLOSE_REASONS[CloseCode.credentialRefused];
    case CloseCode.targetClosed:
      return `the ${targetNoun(subject.kind)} closed the connection`;
    case CloseCode.targetFailed:
      return `the connection to the ${targetNoun(subject.kind)} failed${reason ? `: ${reason}` : ''}`;
    case NORMAL:
    case NO_STATUS:
      return 'closed';
    case ABNORMAL:
      return 'the broker holding the tunnel went away (the connection to it was lost), so the connection was closed';
    case INTERNAL_ERROR:
      return `the broker failed${reason ? `: ${reason}` : ''}`;
    default: {
      const known = (CLOSE_REASONS as Partial<Record<number, string>>)[code];
      return known ?? (reason ? `${reason} (close code ${code})` : `closed with code ${code}`);
    }
  }
}
