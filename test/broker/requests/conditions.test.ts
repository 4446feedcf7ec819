// A resource's conditions in the request service: checked for the requester at request and for the
// approver's own token at approval (a deny needs none), refused with the claims a new sign-in must
// carry, and every refusal audited as policy.refused with its condition.

import { describe, expect, it } from 'vitest';
import type { AuditRow, NewAuditEntry } from '../../../broker/audit/entry.js';
import type { Principal } from '../../../broker/auth/principal.js';
import { RequestService } from '../../../broker/requests/service.js';
import { openDatabase } from '../../../broker/store/database.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { NetworkList, parseNetwork, type Network } from '../../../broker/policy/networks.js';
import { AccessError } from '../../../shared/errors.js';
import { config, FakeDirectory, principal, recordingLog, resource, T0 } from './harness.js';

const mfa = (p: Principal): Principal => ({ ...p, signIn: { ...p.signIn, amr: ['pwd', 'mfa'] } });
const MFA_CLAIMS = { access_token: { amr: { essential: true, values: ['mfa'] } } };

function service(): { service: RequestService; audited: NewAuditEntry[] } {
  const audited: NewAuditEntry[] = [];
  const db = openDatabase(':memory:');
  let n = 0;
  const office = new NetworkList([parseNetwork('10.0.0.0/8') as Network]);
  const resources = [
    resource('mfa-db', {
      autoApprove: [],
      conditions: { requireMfa: true, requireAuthContext: null, maxSignInAgeMs: null, sourceNetworks: null, hours: null },
    }),
    resource('office-db', {
      autoApprove: [],
      conditions: { requireMfa: false, requireAuthContext: null, maxSignInAgeMs: null, sourceNetworks: office, hours: null },
    }),
  ];
  return {
    audited,
    service: new RequestService({
      config: config(resources),
      store: new SqlRequestStore(db),
      directory: new FakeDirectory(),
      log: recordingLog(),
      now: () => T0,
      newId: () => `req${String(++n).padStart(3, '0')}`,
      audit: {
        append: (entry) => {
          audited.push(entry);
          return {} as AuditRow;
        },
      },
    }),
  };
}

async function refusal(promise: Promise<unknown>): Promise<AccessError> {
  const error: unknown = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof AccessError)) throw new Error(`expected an AccessError, got ${String(error)}`);
  return error;
}

describe('RequestService: resource conditions', () => {
  it('refuses a requester without MFA with a claims challenge, audited with the condition; admits them after MFA', async () => {
    const { service: s, audited } = service();
    const refused = await refusal(s.create(principal('alice'), { resource: 'mfa-db' }));
    expect([refused.code, refused.status]).toEqual(['mfa_required', 401]);
    expect(JSON.parse(refused.claims ?? 'null')).toEqual(MFA_CLAIMS);
    expect(audited.at(-1)).toMatchObject({
      type: 'policy.refused',
      resource: 'mfa-db',
      body: { action: 'create', code: 'mfa_required', condition: 'requireMfa' },
    });
    expect((await s.create(mfa(principal('alice')), { resource: 'mfa-db' })).state).toBe('pending');
  });

  it('tells a stranger they may not request, not which conditions apply', async () => {
    const { service: s } = service();
    expect((await refusal(s.create(principal('mallory'), { resource: 'mfa-db' }))).code).toBe('not_a_requester');
  });

  it("checks the approver's own token at approval: bob without MFA is challenged, with MFA his approval grants", async () => {
    const { service: s, audited } = service();
    const request = await s.create(mfa(principal('alice')), { resource: 'mfa-db' });
    const refused = await refusal(s.review(principal('bob'), request.id, 'approve', null));
    expect(refused.code).toBe('mfa_required');
    expect(audited.at(-1)).toMatchObject({ body: { action: 'review', condition: 'requireMfa' } });
    expect((await s.review(mfa(principal('bob')), request.id, 'approve', null)).state).toBe('approved');
  });

  it('lets an approver without MFA deny: a deny grants nothing', async () => {
    const { service: s } = service();
    const request = await s.create(mfa(principal('alice')), { resource: 'mfa-db' });
    expect((await s.review(principal('bob'), request.id, 'deny', 'no')).state).toBe('denied');
  });

  it('refuses an approval from outside the networks, naming the address, with no claims challenge', async () => {
    const { service: s } = service();
    const request = await s.create({ ...principal('alice'), clientAddress: '10.1.2.3' }, { resource: 'office-db' });
    const refused = await refusal(s.review({ ...principal('bob'), clientAddress: '192.0.2.7' }, request.id, 'approve', null));
    expect([refused.code, refused.status, refused.claims]).toEqual(['network_not_allowed', 403, null]);
    expect(refused.message).toBe(
      'office-db can be reached from 10.0.0.0/8 only; you connected from 192.0.2.7. Connect from one of those networks (VPN or office).',
    );
  });
});
