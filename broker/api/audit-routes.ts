// The audit API, for members of the auditor groups only (403 `not_an_auditor` for everyone else):
//
//   GET /v1/audit/sessions?user=&resource=&since=&until=&limit=&cursor=   sessions, newest first, page by page
//   GET /v1/audit/show/:id?limit=&after_seq=                        the whole story of a request or session (after_seq: where a truncated one goes on)
//   GET /v1/audit/events?after_seq=&since=&limit=&wait=             raw entries in seq order
//   GET /v1/audit/verify                                            the hash chain recomputed
//
// Following live (`events --follow`) is a long poll: `wait=N` (seconds, at most 25) holds the
// answer until an entry after `after_seq` is committed, then answers at once; the client asks again
// with `after_seq=nextAfterSeq`. Chosen over pushing on the events WebSocket because it is the same
// request as a page of `export` (one code path, resumable from any seq, nothing lost between two
// polls) and passes every proxy; an append wakes the waiting requests on the next turn of the event
// loop, so a new entry shows within milliseconds (batched query entries within their flush interval).
//
// `since` and `until` take a duration back from now ("7d", "1h30m") or an ISO 8601 time.

import { AccessError } from '../../shared/errors.js';
import { parseDuration } from '../../shared/duration.js';
import { parseWholeNumber } from '../../shared/whole-number.js';
import type { AuditEventsResponse, AuditSessionsResponse, AuditShowResponse, AuditVerifyResponse } from '../../shared/wire.js';
import type { Audit } from '../audit/audit.js';
import { SESSIONS_LIMIT_MAX, EVENTS_LIMIT_MAX, SHOW_LIMIT_MAX, type EventsQuery, type SessionQuery } from '../store/audit-queries.js';
import { MAX_ID_CHARS, MAX_RESOURCE_NAME_CHARS, MAX_USER_FILTER_CHARS } from '../../shared/limits.js';
import { boundedText } from '../http/body.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import type { Route, RouteContext } from '../http/router.js';

/**
 * Longest long poll, in seconds: below the 30 s idle timeout common to proxies and load balancers,
 * so a quiet log ends the wait with an empty page rather than a cut connection.
 */
export const MAX_WAIT_SECONDS = 25;

/** The listing name in sessions cursors. */
const SESSIONS_LISTING = 'audit sessions';

/** A calendar date or date-time (what `Date.parse` reads reliably across engines). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

export function auditRoutes(audit: Audit, now: () => number): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/audit/sessions',
      auth: 'required',
      handle: async (ctx, principal): Promise<AuditSessionsResponse> => {
        await audit.requireAuditor(principal);
        const params = queryParams(ctx, ['user', 'resource', 'since', 'until', 'limit', 'cursor', 'break_glass']);
        const query: SessionQuery = {};
        const user = bounded(nonEmpty(params, 'user'), MAX_USER_FILTER_CHARS, '?user=');
        const resource = bounded(nonEmpty(params, 'resource'), MAX_RESOURCE_NAME_CHARS, '?resource=');
        const since = timeParam(params, 'since', now());
        const until = timeParam(params, 'until', now());
        const limit = intParam(params, 'limit', 1, SESSIONS_LIMIT_MAX);
        if (user !== undefined) query.user = user;
        if (resource !== undefined) query.resource = resource;
        if (since !== undefined) query.since = since;
        if (until !== undefined) query.until = until;
        if (limit !== undefined) query.limit = limit;
        const breakGlass = params.get('break_glass');
        if (breakGlass !== null && breakGlass !== '1')
          throw new AccessError('bad_request', `?break_glass=${breakGlass}: use ?break_glass=1 (only sessions under break-glass grants)`);
        if (breakGlass === '1') query.breakGlass = true;
        const cursor = params.get('cursor');
        if (cursor !== null) query.before = decodeCursor(SESSIONS_LISTING, cursor);
        const page = audit.queries.sessionsPage(query);
        return { sessions: page.sessions, next: page.next && encodeCursor(SESSIONS_LISTING, page.next) };
      },
    },
    {
      method: 'GET',
      path: '/v1/audit/show/:id',
      auth: 'required',
      handle: async (ctx, principal): Promise<AuditShowResponse> => {
        await audit.requireAuditor(principal);
        const params = queryParams(ctx, ['limit', 'after_seq']);
        const limit = intParam(params, 'limit', 1, SHOW_LIMIT_MAX);
        const afterSeq = intParam(params, 'after_seq', 0, Number.MAX_SAFE_INTEGER) ?? 0;
        return audit.queries.show(boundedText(ctx.params['id'] ?? '', MAX_ID_CHARS, 'the id in the path'), limit, afterSeq);
      },
    },
    {
      method: 'GET',
      path: '/v1/audit/events',
      auth: 'required',
      handle: async (ctx, principal): Promise<AuditEventsResponse> => {
        await audit.requireAuditor(principal);
        const params = queryParams(ctx, ['after_seq', 'since', 'limit', 'wait']);
        const query: EventsQuery = { afterSeq: intParam(params, 'after_seq', 0, Number.MAX_SAFE_INTEGER) ?? 0 };
        const since = timeParam(params, 'since', now());
        const limit = intParam(params, 'limit', 1, EVENTS_LIMIT_MAX);
        const wait = intParam(params, 'wait', 0, MAX_WAIT_SECONDS) ?? 0;
        if (since !== undefined) query.since = since;
        if (limit !== undefined) query.limit = limit;
        const page = audit.queries.events(query);
        if (page.entries.length > 0 || wait === 0) return page;
        const gone = new AbortController();
        ctx.res.once('close', () => gone.abort());
        const more = await audit.waitForEntries(page.headSeq, wait * 1000, gone.signal);
        return more ? audit.queries.events(query) : page;
      },
    },
    {
      method: 'GET',
      path: '/v1/audit/verify',
      auth: 'required',
      handle: async (ctx, principal): Promise<AuditVerifyResponse> => {
        await audit.requireAuditor(principal);
        queryParams(ctx, []);
        const result = await audit.verify();
        if (result.ok) return { ok: true, count: result.count, headSeq: result.head.seq, headHash: result.head.hash };
        return { ok: false, count: result.count, firstBadSeq: result.firstBadSeq, problem: result.problem, reason: result.reason };
      },
    },
  ];
}

/** The query string, refusing names the endpoint does not know (a typo must not widen a filter). */
function queryParams(ctx: RouteContext, allowed: readonly string[]): URLSearchParams {
  const params = ctx.url.searchParams;
  for (const name of new Set(params.keys())) {
    if (allowed.includes(name)) continue;
    const known = allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : 'it takes none';
    throw new AccessError('bad_request', `unknown query parameter "${name}" on ${ctx.url.pathname} — ${known}`);
  }
  return params;
}

function bounded(value: string | undefined, maxChars: number, where: string): string | undefined {
  return value === undefined ? undefined : boundedText(value, maxChars, where);
}

function nonEmpty(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name)?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function intParam(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const text = nonEmpty(params, name);
  if (text === undefined) return undefined;
  const value = parseWholeNumber(text, min, max);
  if (value !== undefined) return value;
  throw new AccessError('bad_request', `?${name}=${text} is not a whole number from ${min} to ${max}`);
}

/** "7d" → now - 7 days; "2025-03-04" or "2025-03-04T09:00:00Z" → that instant (UTC when no zone is given). */
function timeParam(params: URLSearchParams, name: string, now: number): number | undefined {
  const text = nonEmpty(params, name);
  if (text === undefined) return undefined;
  const ago = parseDuration(text);
  if (ago !== undefined) return now - ago;
  if (ISO_TIME.test(text)) {
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(text) || !text.includes(':') ? text : `${text}Z`;
    const at = Date.parse(zoned.replace(' ', 'T'));
    if (!Number.isNaN(at)) return at;
  }
  throw new AccessError('bad_request', `?${name}=${text} is neither a duration back from now (7d, 12h, 30m) nor an ISO time (2025-03-04T09:00:00Z)`);
}
