// Which stored database login a tunnel uses: the first entry whose groups the requester is in,
// an entry without groups for everyone, and a refusal (not the client's own login) when the
// resource has logins but none for this requester.

import { describe, expect, it } from 'vitest';
import { databaseCredential } from '../../../broker/config/database-credentials.js';
import type { DatabaseCredential } from '../../../broker/config/types.js';
import { chooseDatabaseCredential, tunnelCredential } from '../../../broker/tunnel/database-credential.js';
import { policy } from '../requests/fixtures.js';

const LEADS = '2f6a1c4e-0b8d-4d6e-9c1a-5e7f3b2a9d10';
const owner = databaseCredential({ user: 'app_owner', source: '$OWNER', groups: [LEADS] }, 'owner-secret');
const oncall = databaseCredential({ user: 'app_oncall', source: '$ONCALL', groups: ['sg-oncall'] }, 'oncall-secret');
const readonly = databaseCredential({ user: 'app_readonly', source: '$RO', groups: [] }, 'ro-secret');

const leads = { id: LEADS, displayName: 'sg-leads' };
const eng = { id: 'aaaaaaaa-0b8d-4d6e-9c1a-5e7f3b2a9d10', displayName: 'sg-eng' };
const oncallGroup = { id: 'bbbbbbbb-0b8d-4d6e-9c1a-5e7f3b2a9d10', displayName: 'sg-oncall' };

describe('chooseDatabaseCredential', () => {
  const rows: Array<[string, DatabaseCredential[], Array<typeof eng>, string | null]> = [
    ['no logins: none', [], [eng], null],
    ['a lead gets the first entry, by group object id', [owner, readonly], [eng, leads], 'app_owner'],
    ['an engineer falls through to the entry for everyone', [owner, readonly], [eng], 'app_readonly'],
    ['a dev-tenant group matches by display name', [owner, oncall, readonly], [oncallGroup], 'app_oncall'],
    ['the first match wins, not the most specific', [readonly], [leads], 'app_readonly'],
    ['nobody matches: none', [owner, oncall], [eng], null],
  ];
  it.each(rows)('%s', (_, credentials, groups, expected) => {
    expect(chooseDatabaseCredential({ credentials }, groups)?.user ?? null).toBe(expected);
  });
});

describe('tunnelCredential', () => {
  it('is null when the resource has no logins: the client logs in itself', () => {
    expect(tunnelCredential(policy(), [eng])).toBeNull();
  });

  it('refuses a requester none of the logins is for, naming the groups that have one', () => {
    expect(() => tunnelCredential(policy({ credentials: [owner] }), [eng])).toThrow(
      expect.objectContaining({ code: 'no_database_credential', message: expect.stringContaining(`none of its logins is for your groups (${LEADS})`) }),
    );
  });
});
