import { describe, expect, it } from 'vitest';
import { decide, headerValue, identityHeaders } from '../../../broker/forward-auth/decide.js';
import { AccessError } from '../../../shared/errors.js';
import { HOUR, harness, principal, resource } from '../requests/harness.js';

const ROBOT = '2f6a1c4e-0b8d-4d6e-9c1a-5e7f3b2a9d10';

function world() {
  const h = harness({ resources: [resource('web', { workloads: [ROBOT] }), resource('db')] });
  const ctx = () => ({ resources: h.config.resources, grants: h.store, directory: h.directory, now: h.clock.now });
  return { h, ctx };
}

async function refusal(promise: Promise<unknown>): Promise<AccessError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof AccessError)) throw new Error(`expected a refusal, got ${String(error)}`);
  return error;
}

describe('forward-auth decide', () => {
  it('allows a person with a live grant until the grant ends, with the groups the policy names', async () => {
    const { h, ctx } = world();
    const created = await h.service.create(principal('alice'), { resource: 'web', duration: '1h' });
    const granted = await h.service.review(principal('bob'), created.id, 'approve', null);
    const allowed = await decide(principal('alice'), 'web', ctx());
    expect(allowed.grant?.id).toBe(granted.id);
    expect(allowed.validUntil).toBe(h.clock.now + HOUR);
    expect(allowed.groups.map((g) => g.displayName)).toEqual(['sg-eng']);
  });

  it('refuses a person without a grant, saying how to ask for one', async () => {
    const { ctx } = world();
    const error = await refusal(decide(principal('alice'), 'web', ctx()));
    expect(error.code).toBe('no_live_grant');
    expect(error.message).toContain('access request web');
  });

  it('refuses a grant holder who has left the requester groups', async () => {
    const { h, ctx } = world();
    const created = await h.service.create(principal('alice'), { resource: 'web', duration: '1h' });
    await h.service.review(principal('bob'), created.id, 'approve', null);
    h.directory.current.set('alice', []);
    expect((await refusal(decide(principal('alice'), 'web', ctx()))).code).toBe('not_a_requester');
  });

  it('refuses a grant past its end before the clock has closed it', async () => {
    const { h, ctx } = world();
    const created = await h.service.create(principal('alice'), { resource: 'web', duration: '1h' });
    await h.service.review(principal('bob'), created.id, 'approve', null);
    h.clock.now += HOUR;
    expect((await refusal(decide(principal('alice'), 'web', ctx()))).code).toBe('no_live_grant');
  });

  it('allows a workload the resource names, by policy and without a grant, until its token expires', async () => {
    const { ctx } = world();
    const robot = { ...principal('robot-sp', 'app'), appId: ROBOT };
    const allowed = await decide(robot, 'web', ctx());
    expect(allowed.grant).toBeNull();
    expect(allowed.validUntil).toBe(robot.expiresAt.getTime());
  });

  it('refuses a workload the resource does not name', async () => {
    const { ctx } = world();
    const robot = { ...principal('robot-sp', 'app'), appId: ROBOT };
    const error = await refusal(decide(robot, 'db', ctx()));
    expect(error.code).toBe('not_a_workload');
    expect(error.message).toContain('resources.db.workloads');
  });

  it('refuses a missing, malformed or unknown resource name without quoting a long one', async () => {
    const { ctx } = world();
    expect((await refusal(decide(principal('alice'), null, ctx()))).code).toBe('bad_request');
    expect((await refusal(decide(principal('alice'), 'nope', ctx()))).code).toBe('unknown_resource');
    const long = await refusal(decide(principal('alice'), 'x'.repeat(5000), ctx()));
    expect(long.code).toBe('unknown_resource');
    expect(long.message.length).toBeLessThan(200);
  });
});

describe('identity headers', () => {
  it('percent-encodes what is not printable ASCII, so a claim can never start a second header', () => {
    expect(headerValue('Zoë\r\nX-Evil: 1')).toBe('Zo%C3%AB%0D%0AX-Evil: 1');
    expect(headerValue('100%')).toBe('100%25');
  });

  it('names a workload by its client id and kind, with no grant header', async () => {
    const { ctx } = world();
    const robot = { ...principal('robot-sp', 'app'), appId: ROBOT, name: 'nightly-export' };
    const headers = identityHeaders(robot, await decide(robot, 'web', ctx()));
    expect(headers['x-access-user']).toBe(ROBOT);
    expect(headers['x-access-kind']).toBe('workload');
    expect(headers['x-access-name']).toBe('nightly-export');
    expect(headers['x-access-grant']).toBeUndefined();
  });
});
