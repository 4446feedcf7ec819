// What every broker handler needs, passed explicitly: the configuration, the token verifier, the
// directory and the clock. Tests build one with fakes; `access-broker` builds one with the real things.

import type { IncomingMessage } from 'node:http';
import { AccessError } from '../shared/errors.js';
import type { BrokerConfigResponse, GroupRef } from '../shared/wire.js';
import type { Audit } from './audit/audit.js';
import { FailedSignIns } from './auth/failed-sign-ins.js';
import type { Principal } from './auth/principal.js';
import { bearerTokenFrom } from './auth/token-verifier.js';
import type { BrokerConfig } from './config/types.js';
import type { Directory } from './identity/directory.js';
import type { RequestService } from './requests/service.js';
import type { HostAllowList } from './http/host-allow-list.js';

export interface Verifier {
  verify(token: string): Promise<Principal>;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface BrokerApp {
  config: BrokerConfig;
  /** What `GET /v1/config` answers: how a CLI signs in to this broker's tenant. */
  signIn: BrokerConfigResponse;
  verifier: Verifier;
  directory: Directory;
  now: () => number;
  log: Logger;
  /** Set when the broker is shutting down: new requests get 503 instead of a closing store. */
  stopping?: boolean;
  /**
   * The Host names this broker answers to (http/host-allow-list.ts); any other Host gets 421 on
   * every route and upgrade. Set by `access-broker dev`, whose sign-in page must not be reachable by
   * DNS rebinding; absent: any Host.
   */
  hosts?: HostAllowList;
  /** Access requests and approvals (broker/requests/runtime.ts); their routes are served when present. */
  requests?: RequestService;
  /**
   * The audit log (broker/audit, built by startRequests): when present, its routes are served and
   * every token the broker accepts for the first time is recorded as `signin.seen`.
   */
  audit?: Audit;
}

/**
 * The caller behind the request's bearer token. With an audit log, a token seen for the first time
 * is recorded (once per token: an in-memory LRU, not a write per request).
 */
export async function authenticate(app: Pick<BrokerApp, 'verifier' | 'audit'>, req: IncomingMessage): Promise<Principal> {
  const gate = failedSignInsOf(app);
  try {
    const token = bearerTokenFrom(req.headers.authorization);
    const principal = await app.verifier.verify(token);
    app.audit?.signins.seen(principal, token);
    return principal;
  } catch (error) {
    // A token that verifies always passes: people behind the same address (a NAT, a proxy) are
    // not locked out by someone else's failures; the failing caller gets 429 instead of 401.
    gate.check(req);
    gate.failed(req, error);
    throw error;
  }
}

/** One count of failed token checks per broker (its app object), made on first use. */
const failedSignIns = new WeakMap<object, FailedSignIns>();

function failedSignInsOf(app: object): FailedSignIns {
  const known = failedSignIns.get(app);
  if (known) return known;
  const made = new FailedSignIns();
  failedSignIns.set(app, made);
  return made;
}

/** The caller's groups from the directory. Apps (service principals) act through roles, not groups. */
export async function groupsOf(app: BrokerApp, principal: Principal): Promise<GroupRef[]> {
  if (principal.kind === 'app') return [];
  return app.directory.memberGroups(principal.oid);
}

export function requireUser(principal: Principal): void {
  if (principal.kind !== 'user') {
    throw new AccessError('forbidden', 'this endpoint acts for a signed-in person; an application token cannot use it');
  }
}
