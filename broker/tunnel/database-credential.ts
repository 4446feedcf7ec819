// Which of a resource's stored database logins (`credentials:`, config/database-credentials.ts) a
// tunnel uses: the first entry whose groups the requester is in, or one without groups (everyone).
// Pure: the groups are the ones admission just read from Graph for this tunnel.

import { AccessError } from '../../shared/errors.js';
import { dbLoginEntry } from '../audit/session-entries.js';
import type { GroupRef } from '../../shared/wire.js';
import type { DatabaseCredential, ResourcePolicy } from '../config/types.js';
import { inAnyGroup } from '../identity/directory.js';
import { groupList } from '../requests/wording.js';
import type { PreambleContext } from './protocol.js';

/**
 * How long the database (PostgreSQL, MySQL) has to finish the login. A server on the network answers in milliseconds
 * (SCRAM's PBKDF2 is a few more); one that says nothing must not leave the client hanging until
 * the idle timeout.
 */
export const LOGIN_TIMEOUT_MS = 10_000;

/** The login for a requester in `groups`, or null when none of the resource's entries is for them (or it has none). */
export function chooseDatabaseCredential(policy: Pick<ResourcePolicy, 'credentials'>, groups: readonly GroupRef[]): DatabaseCredential | null {
  for (const credential of policy.credentials) {
    if (credential.groups.length === 0 || inAnyGroup(groups, credential.groups)) return credential;
  }
  return null;
}

/**
 * The login a tunnel to `policy` uses: null when the resource has no stored logins (the client
 * logs in itself); a refusal when it has some but none for this requester, who must not fall back
 * to logging in with a password of their own.
 */
export function tunnelCredential(policy: ResourcePolicy, groups: readonly GroupRef[]): DatabaseCredential | null {
  if (policy.credentials.length === 0) return null;
  const chosen = chooseDatabaseCredential(policy, groups);
  if (chosen) return chosen;
  const listed = [...new Set(policy.credentials.flatMap((credential) => credential.groups))];
  throw new AccessError(
    'no_database_credential',
    `${policy.name} logs in to the database for you, but none of its logins is for your groups (${groupList(listed, policy.groupNames)}). ` +
      'Ask an admin to add a login for a group you are in.',
  );
}

/** Records how the broker's login with the tunnel's stored credential went (`refused`: why not; null: accepted). */
export function recordDbLogin(tunnel: PreambleContext, credential: DatabaseCredential, method: string | null, refused: string | null): void {
  const { session } = tunnel;
  tunnel.record(
    dbLoginEntry({
      sessionId: session.id,
      user: session.user,
      resource: session.resource,
      at: tunnel.now(),
      dbUser: credential.user,
      credential: credential.source,
      method,
      outcome: refused === null ? 'accepted' : 'refused',
      reason: refused,
    }),
  );
}
