// What every broker handler needs, passed explicitly: the configuration, the token verifier, the
// directory and the clock. Tests build one with fakes; `access-broker` builds one with the real things.

import type { IncomingMessage } from 'node:http';
import { AccessError } from '../shared/errors.js';
import type { BrokerConfigResponse, GroupRef } from '../shared/wire.js';
import type { Principal } from './auth/principal.js';
import { bearerTokenFrom } from './auth/token-verifier.js';
import type { BrokerConfig } from './config/types.js';
import type { Directory } from './identity/directory.js';
import type { RequestService } from './requests/service.js';

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
  /** Access requests and approvals (broker/requests/runtime.ts); their routes are served when present. */
  requests?: RequestService;
}

export async function authenticate(app: Pick<BrokerApp, 'verifier'>, req: IncomingMessage): Promise<Principal> {
  return app.verifier.verify(bearerTokenFrom(req.headers.authorization));
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
