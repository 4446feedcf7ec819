// What every broker handler needs, passed explicitly: the configuration, the token verifier, the
// directory, the clock, the request service and the audit log. Built once, complete, by
// broker/assemble.ts and never changed afterwards; tests assemble one with fakes of the identity edge.

import type { IncomingMessage } from 'node:http';
import type { BrokerConfigResponse } from '../shared/wire.js';
import type { Audit } from './audit/audit.js';
import type { SignInRecorder } from './audit/signins.js';
import { FailedSignIns } from './auth/failed-sign-ins.js';
import type { IdentityTokens } from './tunnel/http/identity-token.js';
import type { CallLimiter } from './http/rate-limit.js';
import type { Principal } from './auth/principal.js';
import { bearerTokenFrom } from './auth/token-verifier.js';
import type { BrokerConfig } from './config/types.js';
import type { Directory } from './identity/directory.js';
import type { Logger } from './log.js';
import { clientAddress, NetworkList } from './policy/networks.js';
import type { RequestService } from './requests/service.js';

export interface Verifier {
  verify(token: string): Promise<Principal>;
}

export interface BrokerApp {
  readonly config: BrokerConfig;
  /** What `GET /v1/config` answers: how a CLI signs in to this broker's tenant. */
  readonly signIn: BrokerConfigResponse;
  readonly verifier: Verifier;
  readonly directory: Directory;
  readonly now: () => number;
  readonly log: Logger;
  /** Access requests and approvals. */
  readonly requests: RequestService;
  /** The audit log: request changes, sessions, queries and sign-ins, and what auditors read. */
  readonly audit: Audit;
  /** The key http resources' identity tokens are signed with; its JWKS is public (`GET /v1/identity/jwks`). */
  readonly identityTokens: IdentityTokens;
  /**
   * New requests per person (limits.requestsPerMinute): buckets in the database, so the limit holds
   * across every broker on it.
   */
  readonly requestCreations: CallLimiter;
}

/** The caller behind a request's bearer token (REST and WebSocket upgrades alike). */
export type Authenticate = (req: IncomingMessage) => Promise<Principal>;

/**
 * Authenticates with `verifier`; a token seen for the first time is recorded as `signin.seen`
 * (once per token: an in-memory LRU, not a write per request). Failed checks are counted per source
 * address in `failures` (one per broker): past the limit the failing caller gets 429 instead of 401.
 */
export function authenticator(
  verifier: Verifier,
  signins: Pick<SignInRecorder, 'seen'>,
  failures: FailedSignIns = new FailedSignIns(),
  trustedProxies: NetworkList = new NetworkList([]),
): Authenticate {
  return async (req) => {
    try {
      const token = bearerTokenFrom(req.headers.authorization);
      const principal = await verifier.verify(token);
      signins.seen(principal, token);
      // Where the call came from, for a resource's sourceNetworks: X-Forwarded-For only from a trusted proxy.
      return { ...principal, clientAddress: clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], trustedProxies) };
    } catch (error) {
      // A token that verifies always passes: people behind the same address (a NAT, a proxy) are
      // not locked out by someone else's failures; the failing caller gets 429 instead of 401.
      failures.check(req);
      failures.failed(req, error);
      throw error;
    }
  };
}
