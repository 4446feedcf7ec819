// `GET /v1/forward-auth`: the question nginx `auth_request`, HAProxy (deploy/haproxy/access-auth.lua)
// and Traefik `forwardAuth` ask for each request they proxy. The proxy passes the caller's
// Authorization header and names the resource (`?resource=NAME` or `X-Access-Resource`); the answer
// is 200 with identity headers (decide.ts identityHeaders), 401 with a Bearer challenge when the
// token is missing or bad, 403 with `X-Access-Reason` for everything else the broker refuses, or 503
// when the directory cannot answer (fail closed). Proxies treat any other status as an error, so
// refusals are all 403: a deny is a deny. Decisions are cached briefly (decision-cache.ts) and
// counted into the audit log per window (tally.ts).

import type { IncomingMessage } from 'node:http';
import { AccessError } from '../../shared/errors.js';
import type { Authenticate } from '../app.js';
import type { NewAuditEntry } from '../audit/entry.js';
import { bearerTokenFrom } from '../auth/bearer-token.js';
import type { Principal } from '../auth/principal.js';
import type { ResourcePolicy } from '../config/types.js';
import { errorHeaders, sendJson, toAccessError } from '../http/respond.js';
import type { PublicRoute, RouteContext } from '../http/router.js';
import type { Directory } from '../identity/directory.js';
import type { Logger } from '../log.js';
import type { AccessRequest, RequestChange } from '../requests/types.js';
import type { GrantLookup } from '../tunnel/admission.js';
import { DecisionCache, decisionKey } from './decision-cache.js';
import { decide, identityHeaders, type Allowed } from './decide.js';
import { DecisionTally, MAX_TALLY_KEYS } from './tally.js';

export const FORWARD_AUTH_PATH = '/v1/forward-auth';
/** The header a proxy may name the resource in instead of the query. */
export const RESOURCE_HEADER = 'x-access-resource';
/** Why a decision was a refusal, for the proxy's log and the caller (the body says it too). */
export const REASON_HEADER = 'x-access-reason';

export interface ForwardAuthOptions {
  resources: readonly ResourcePolicy[];
  grants: GrantLookup;
  directory: Directory;
  /** Verifies the bearer token (its own failure counter: a proxy is one address for many people). */
  authenticate: Authenticate;
  /** Where the window's counts go (the audit log's batched appender). */
  audit: { add(entry: NewAuditEntry): void };
  /** One audit entry per grant (and per refused caller, resource and code) per this window. */
  auditWindowMs: number;
  now: () => number;
  log: Logger;
  /** Default FORWARD_AUTH_CACHE_MS. */
  cacheMs?: number;
}

export class ForwardAuthEndpoint {
  readonly #options: ForwardAuthOptions;
  readonly #cache: DecisionCache;
  readonly #tally = new DecisionTally();
  readonly #timer: NodeJS.Timeout;
  #windowStart: number;

  constructor(options: ForwardAuthOptions) {
    this.#options = options;
    this.#cache = new DecisionCache(options.cacheMs);
    this.#windowStart = options.now();
    this.#timer = setInterval(() => this.flush(), options.auditWindowMs);
    this.#timer.unref();
  }

  route(): PublicRoute {
    return { method: 'GET', path: FORWARD_AUTH_PATH, auth: 'none', handle: (ctx) => this.#handle(ctx) };
  }

  /** Drops the cached decisions of a grant the moment it is revoked or expires (RequestService.onChange). */
  onRequestChange(request: AccessRequest, changes: readonly RequestChange[]): void {
    if (changes.includes('revoked') || changes.includes('expired')) this.#cache.dropGrant(request.id);
  }

  /** Writes the window's counts to the audit log and starts a new window. */
  flush(): void {
    const end = this.#options.now();
    for (const entry of this.#tally.drain(this.#windowStart, end)) this.#options.audit.add(entry);
    this.#windowStart = end;
  }

  /** Writes what is counted; call before the audit log closes. */
  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }

  async #handle(ctx: RouteContext): Promise<undefined> {
    const { req, res, url } = ctx;
    const resource = url.searchParams.get('resource') ?? headerOf(req, RESOURCE_HEADER);
    let principal: Principal | null = null;
    try {
      const key = decisionKey(bearerTokenFrom(req.headers.authorization), resource ?? '');
      const cached = this.#cache.get(key, this.#options.now());
      if (cached) {
        this.#allowed(cached.principal, cached.allowed);
        sendJson(res, 200, answer(cached.principal, cached.allowed), cached.headers);
        return undefined;
      }
      principal = await this.#options.authenticate(req);
      const allowed = await this.#decide(principal, resource);
      const headers = identityHeaders(principal, allowed);
      this.#cache.set(key, { principal, allowed, headers }, this.#options.now());
      this.#allowed(principal, allowed);
      sendJson(res, 200, answer(principal, allowed), headers);
    } catch (thrown) {
      const error = toAccessError(thrown);
      if (error.code === 'internal') this.#options.log.error('forward-auth failed', { error: thrown instanceof Error ? thrown.stack : String(thrown) });
      this.#refused(principal, resource, error, req);
      // Proxies know 401 (challenge the caller) and 403 (deny); 503 says try again. Anything else is a 403.
      const status = error.status === 401 || error.status === 503 ? error.status : 403;
      sendJson(res, status, error.toBody(), { ...errorHeaders(error), [REASON_HEADER]: error.code });
    }
    return undefined;
  }

  async #decide(principal: Principal, resource: string | null): Promise<Allowed> {
    const { resources, grants, directory, now } = this.#options;
    const allowed = await decide(principal, resource, { resources, grants, directory, now: now() });
    if (allowed.grant === null) return allowed;
    // The directory read above yielded: a revoke that committed meanwhile has already dropped the
    // cache, so the grant is read again here, with no await between this read and the caching.
    if (grants.liveUntil(allowed.grant.id, now()) === null)
      throw new AccessError('no_live_grant', `Grant ${allowed.grant.id} on ${allowed.policy.name} ended just now.`);
    return allowed;
  }

  #allowed(principal: Principal, allowed: Allowed): void {
    this.#tally.allowed(principal, allowed.policy.name, allowed.grant?.id ?? null, this.#options.now());
    if (this.#tally.keys >= MAX_TALLY_KEYS) this.flush();
  }

  #refused(principal: Principal | null, resource: string | null, error: AccessError, req: IncomingMessage): void {
    this.#tally.refused(principal, resource, error, req.socket.remoteAddress ?? null, this.#options.now());
    if (this.#tally.keys >= MAX_TALLY_KEYS) this.flush();
  }
}

function headerOf(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return typeof value === 'string' && value !== '' ? value : null;
}

/** The body of an allowed answer: the same facts as the headers, for someone asking with curl. */
function answer(principal: Principal, allowed: Allowed): Record<string, unknown> {
  return {
    allowed: true,
    resource: allowed.policy.name,
    kind: principal.kind === 'app' ? 'workload' : 'user',
    user: principal.kind === 'app' ? principal.appId : principal.upn,
    oid: principal.oid,
    grant: allowed.grant?.id ?? null,
    until: new Date(allowed.validUntil).toISOString(),
  };
}
