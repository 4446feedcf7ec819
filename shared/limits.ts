// The sizes and counts the broker accepts, named with their reason, in one place for the broker
// (which refuses above them) and the CLI (which pages below them). README.md, "Limits", lists them.
//
// Every text field of every API body and path is bounded: without a bound, a caller with no rights
// at all can still make the broker store, log and serve whatever it sends (a refused request with a
// 60 KB reason was audited whole, 1,000 of them added 60 MiB, and auditors' pages outgrew the
// CLI's response cap).

/**
 * Longest reason, review comment or revoke reason, in characters: enough for an incident summary,
 * short enough to show in an approver's table and to keep audit entries small.
 */
export const MAX_REASON_CHARS = 1000;

/** Longest ticket id: real ones (INC-4211, OPS-123456) are short; this also bounds what a ticketPattern scans. */
export const MAX_TICKET_CHARS = 64;

/**
 * Longest resource name in a body, path or query: configured names are DNS labels (at most 63
 * characters, broker/config/schema.ts), so anything longer names no resource.
 */
export const MAX_RESOURCE_NAME_CHARS = 63;

/**
 * Longest request or session id in a path or query: broker ids are 10 (requests) or a UUID's 36
 * characters (sessions); 64 leaves room for other id forms without letting a path carry a payload.
 */
export const MAX_ID_CHARS = 64;

/** Longest duration text ("1h30m", "90m", "2d"): real ones are a few characters. */
export const MAX_DURATION_CHARS = 32;

/** Longest user filter (a UPN is at most 113 characters in Entra; an object id is 36). */
export const MAX_USER_FILTER_CHARS = 256;

/**
 * Largest JSON body of an API call, in bytes. The largest valid body is a request with a full
 * reason, ticket, resource and duration: even with every character escaped as \uXXXX in JSON
 * (6 bytes each) that is under 8 KiB. Larger bodies are refused (413) before they are parsed.
 */
export const MAX_API_BODY_BYTES = 16 * 1024;

/**
 * Characters of each refused input value copied into the audit log (`policy.refused`): enough to
 * recognise what was tried; the original length is kept beside a cut copy. A refusal is written
 * for anyone who can sign in, so its size must not depend on what they send.
 */
export const MAX_AUDIT_COPY_CHARS = 200;

/**
 * Largest answer the CLI accepts from the broker, in bytes (shared/http-transport.ts): the broker's
 * pages are sized to stay far below it. A larger one is reported as `response_too_large`.
 */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

// Per-caller limits: what one person (or one address) may take of what everyone shares.

/**
 * Requests one person may create: 10 at once, then 10 a minute. Far above a person at a terminal
 * (a request is a deliberate act an approver must read); low enough that a script cannot bury
 * the approvers' queue or the audit log.
 */
export const REQUEST_CREATION_LIMIT = { burst: 10, perMinute: 10 } as const;

/**
 * Failed token checks from one source address: 30 at once, then 30 a minute. A CLI with an
 * expired token fails once and signs in again; a caller that keeps failing is guessing or
 * flooding, and its failures are answered 429 until the bucket refills (a token that verifies
 * still passes, so people sharing the address are not locked out).
 */
export const AUTH_FAILURE_LIMIT = { burst: 30, perMinute: 30 } as const;

/**
 * Pending requests one person may hold at once (all resources together): a person waits on a
 * few; more is a queue flood that hides real requests from approvers.
 */
export const MAX_PENDING_PER_USER = 20;

/** Event streams (`/v1/events`) one person may hold open at once: a few terminals running `watch` or waiting `request`s. */
export const MAX_EVENT_STREAMS_PER_USER = 10;

/**
 * Tunnels one person may hold open to one resource at once, when its policy names no
 * `maxConnectionsPerUser`: a few psql sessions and an app. Beside the resource's own
 * `maxConnections` (all users together), so one person cannot take every slot.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_USER = 5;

// Pages: every listing is read page by page with an opaque cursor.

/** Items per page when a listing's `limit` is not given. */
export const PAGE_LIMIT_DEFAULT = 100;

/**
 * Most items one page may hold. Items are bounded (the text limits above; a query's SQL at
 * 8 KiB), so 500 stay well below MAX_RESPONSE_BYTES.
 */
export const PAGE_LIMIT_MAX = 500;

/** The per-caller limits a broker applies; a config's `limits` overrides any of them (README, "Limits"). */
export interface CallerLimits {
  requestCreation: { burst: number; perMinute: number };
  maxPendingPerUser: number;
  maxEventStreamsPerUser: number;
  maxTunnelsPerUserPerResource: number;
}

export const DEFAULT_CALLER_LIMITS: CallerLimits = {
  requestCreation: REQUEST_CREATION_LIMIT,
  maxPendingPerUser: MAX_PENDING_PER_USER,
  maxEventStreamsPerUser: MAX_EVENT_STREAMS_PER_USER,
  maxTunnelsPerUserPerResource: DEFAULT_MAX_CONNECTIONS_PER_USER,
};

/** The defaults with what a config names instead. */
export function callerLimits(overrides: Partial<CallerLimits> | undefined): CallerLimits {
  return { ...DEFAULT_CALLER_LIMITS, ...overrides };
}
