// The access-request API: create, list, show, cancel, review, revoke, and what waits for my review.
// Handlers check the shape of what they are given and call the RequestService; every rule lives
// there and in the pure domain below it.

import { AccessError } from '../../shared/errors.js';
import { parseWholeNumber } from '../../shared/whole-number.js';
import type { ApprovalsResponse, CreateRequestBody, RequestsResponse, RequestView } from '../../shared/wire.js';
import { MAX_DURATION_CHARS, MAX_ID_CHARS, MAX_REASON_CHARS, MAX_RESOURCE_NAME_CHARS, MAX_TICKET_CHARS } from '../../shared/limits.js';
import { bodyObject, boundedText, optionalString, requiredChoice, requiredString } from '../http/body.js';
import { readJsonBody } from '../http/respond.js';
import { RetryLaterError, retryAfterSeconds, type CallLimiter } from '../http/rate-limit.js';
import type { Route } from '../http/router.js';
import { decodeCursor, encodeCursor, pageLimit } from '../http/cursor.js';
import type { RequestService } from '../requests/service.js';
import type { RequestState } from '../requests/types.js';
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX } from '../store/request-store.js';

const REQUEST_STATES: readonly RequestState[] = ['pending', 'approved', 'denied', 'cancelled', 'timed_out', 'expired', 'revoked'];
const DECISIONS = ['approve', 'deny'] as const;
const VERDICTS = ['acceptable', 'not_acceptable'] as const;
/** Listing names in cursors: a cursor of one listing is refused by the other. */
const REQUESTS_LISTING = 'requests';
const APPROVALS_LISTING = 'approvals';

/** `creations` limits new requests per person; every attempt counts, refused ones too: a flood of refusals is what fills the audit log. */
export function requestRoutes(service: RequestService, creations: CallLimiter): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/requests',
      status: 201,
      auth: 'required',
      handle: async (ctx, principal): Promise<RequestView> => {
        limitCreation(creations, principal.oid);
        const created = await service.create(principal, createBody(await readJsonBody(ctx.req)));
        ctx.res.setHeader('location', `/v1/requests/${created.id}`);
        return created;
      },
    },
    {
      method: 'GET',
      path: '/v1/requests',
      auth: 'required',
      handle: async (ctx, principal): Promise<RequestsResponse> => {
        const states = statesParam(ctx.url.searchParams.get('state'));
        const limit = limitParam(ctx.url.searchParams.get('limit'));
        const cursor = ctx.url.searchParams.get('cursor');
        const before = cursor === null ? null : decodeCursor(REQUESTS_LISTING, cursor);
        const page = await service.requestsPage(principal, { ...(states ? { states } : {}), limit, before });
        return { requests: page.requests, next: page.next && encodeCursor(REQUESTS_LISTING, page.next) };
      },
    },
    {
      method: 'GET',
      path: '/v1/requests/:id',
      auth: 'required',
      handle: async (ctx, principal): Promise<RequestView> => service.get(principal, idParam(ctx.params)),
    },
    {
      method: 'POST',
      path: '/v1/requests/:id/cancel',
      auth: 'required',
      handle: async (ctx, principal): Promise<RequestView> => {
        // `reason` is accepted for symmetry with revoke; a cancelled request records who, not why.
        reasonBody(await readJsonBody(ctx.req), 'cancel');
        return service.cancel(principal, idParam(ctx.params));
      },
    },
    {
      method: 'POST',
      path: '/v1/requests/:id/review',
      auth: 'required',
      handle: async (ctx, principal): Promise<RequestView> => {
        const body = bodyObject(await readJsonBody(ctx.req), ['decision', 'comment'], 'review');
        const decision = requiredChoice(body, 'decision', DECISIONS, 'review');
        return service.review(principal, idParam(ctx.params), decision, optionalString(body, 'comment', 'review', MAX_REASON_CHARS) ?? null);
      },
    },
    {
      method: 'POST',
      path: '/v1/requests/:id/revoke',
      auth: 'required',
      handle: async (ctx, principal): Promise<RequestView> => service.revoke(principal, idParam(ctx.params), reasonBody(await readJsonBody(ctx.req), 'revoke')),
    },
    {
      method: 'POST',
      path: '/v1/requests/:id/extend',
      auth: 'required',
      handle: async (ctx, principal): Promise<RequestView> => {
        const body = bodyObject(await readJsonBody(ctx.req), ['duration', 'reason'], 'extension');
        const duration = requiredString(body, 'duration', 'extension', MAX_DURATION_CHARS);
        return service.extend(principal, idParam(ctx.params), duration, optionalString(body, 'reason', 'extension', MAX_REASON_CHARS) ?? null);
      },
    },
    {
      method: 'POST',
      path: '/v1/requests/:id/post-review',
      auth: 'required',
      handle: async (ctx, principal): Promise<RequestView> => {
        const body = bodyObject(await readJsonBody(ctx.req), ['verdict', 'comment'], 'post-review');
        const verdict = requiredChoice(body, 'verdict', VERDICTS, 'post-review');
        return service.postReview(principal, idParam(ctx.params), verdict, optionalString(body, 'comment', 'post-review', MAX_REASON_CHARS) ?? null);
      },
    },
    {
      method: 'GET',
      path: '/v1/break-glass',
      auth: 'required',
      // Not paged: unreviewed break-glass grants are few, and a backlog is what the approver must see whole.
      handle: async (_ctx, principal): Promise<RequestsResponse> => ({ requests: await service.breakGlassToReview(principal), next: null }),
    },
    {
      method: 'GET',
      path: '/v1/approvals',
      auth: 'required',
      handle: async (ctx, principal): Promise<ApprovalsResponse> => {
        const limit = pageLimit(ctx.url.searchParams.get('limit'));
        const cursor = ctx.url.searchParams.get('cursor');
        const after = cursor === null ? null : decodeCursor(APPROVALS_LISTING, cursor);
        const page = await service.approvalsPage(principal, { limit, after });
        return { approvals: page.approvals, next: page.next && encodeCursor(APPROVALS_LISTING, page.next) };
      },
    },
  ];
}

/** Each text field of a new request, with its limit (shared/limits.ts). */
const CREATE_FIELDS = { duration: MAX_DURATION_CHARS, reason: MAX_REASON_CHARS, ticket: MAX_TICKET_CHARS } as const;

/** Refuses (429, not audited: that is the point) a person over their rate of new requests. */
function limitCreation(creations: CallLimiter, oid: string): void {
  const wait = creations.take(oid);
  if (wait === 0) return;
  const { burst, perMinute } = creations.limit;
  const seconds = retryAfterSeconds(wait);
  throw new RetryLaterError(
    'rate_limited',
    `too many new requests from you: at most ${burst} at once, then ${perMinute} a minute — try again in ${seconds} s`,
    seconds,
  );
}

function createBody(raw: unknown): CreateRequestBody {
  const body = bodyObject(raw, ['resource', 'duration', 'reason', 'ticket', 'breakGlass'], 'request');
  const breakGlass = body['breakGlass'];
  if (breakGlass !== undefined && typeof breakGlass !== 'boolean')
    throw new AccessError('bad_request', '"breakGlass" in the request body must be true or false');
  const optional = (key: keyof typeof CREATE_FIELDS): Partial<CreateRequestBody> => {
    const value = optionalString(body, key, 'request', CREATE_FIELDS[key]);
    return value === undefined ? {} : { [key]: value };
  };
  return {
    resource: requiredString(body, 'resource', 'request', MAX_RESOURCE_NAME_CHARS),
    ...optional('duration'),
    ...optional('reason'),
    ...optional('ticket'),
    ...(breakGlass === true ? { breakGlass: true } : {}),
  };
}

function reasonBody(raw: unknown, what: string): string | null {
  return optionalString(bodyObject(raw, ['reason'], what), 'reason', what, MAX_REASON_CHARS) ?? null;
}

function idParam(params: Record<string, string>): string {
  return boundedText(params['id'] ?? '', MAX_ID_CHARS, 'the request id in the path');
}

/** `?state=pending,approved` → the states; absent → all states. */
function statesParam(value: string | null): RequestState[] | undefined {
  if (value === null || value.trim() === '') return undefined;
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const unknown = names.filter((name) => !REQUEST_STATES.some((state) => state === name));
  if (unknown.length > 0) {
    throw new AccessError('bad_request', `unknown state ${unknown.map((n) => JSON.stringify(n)).join(', ')} in ?state= — use ${REQUEST_STATES.join(', ')}`);
  }
  return REQUEST_STATES.filter((state) => names.includes(state));
}

function limitParam(value: string | null): number {
  if (value === null) return LIST_LIMIT_DEFAULT;
  const limit = parseWholeNumber(value, 1, LIST_LIMIT_MAX);
  if (limit !== undefined) return limit;
  throw new AccessError('bad_request', `?limit=${value} is not a whole number from 1 to ${LIST_LIMIT_MAX}`);
}
