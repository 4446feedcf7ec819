// GET /v1/forward-auth on a broker assembled like every broker (real store, fake verifier and
// directory): the statuses and headers a proxy acts on, and the audit entries it leaves.

import { afterEach, describe, expect, it } from 'vitest';
import { principal, resource } from '../requests/harness.js';
import { startTunnelBroker, type TunnelBroker } from '../tunnel/harness.js';

let broker: TunnelBroker;

afterEach(async () => {
  await broker?.close();
});

async function ask(token: string | null, query: string, headers: Record<string, string> = {}): Promise<Response> {
  const base = broker.wsBase.replace(/^ws:/, 'http:');
  return fetch(`${base}/v1/forward-auth${query}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
}

async function start(): Promise<void> {
  // The fake verifier's app tokens carry the calling app "cli".
  broker = await startTunnelBroker([resource('web', { workloads: ['cli'] }), resource('db')]);
}

describe('GET /v1/forward-auth', () => {
  it('answers 401 with a Bearer challenge without a token, and 401 for a token that does not verify', async () => {
    await start();
    const none = await ask(null, '?resource=web');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('token_missing');
    expect((await ask('forged', '?resource=web')).status).toBe(401);
  });

  it('answers 403 with the reason for a person without a grant, and for a resource the broker does not have', async () => {
    await start();
    const refused = await ask('good-alice', '?resource=web');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('x-access-reason')).toBe('no_live_grant');
    expect(((await refused.json()) as { message: string }).message).toContain('access request web');
    const unknown = await ask('good-alice', '?resource=nope');
    expect(unknown.status).toBe(403);
    expect(unknown.headers.get('x-access-reason')).toBe('unknown_resource');
  });

  it('answers 200 with identity headers for a grant holder, the resource named in the query or in X-Access-Resource', async () => {
    await start();
    const granted = await broker.grant('web');
    for (const answer of [await ask('good-alice', '?resource=web'), await ask('good-alice', '', { 'x-access-resource': 'web' })]) {
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-access-user')).toBe('alice@contoso.com');
      expect(answer.headers.get('x-access-grant')).toBe(granted.id);
      expect(answer.headers.get('x-access-groups')).toBe('g-eng');
    }
  });

  it('refuses the first question after a revoke, though the decision was cached a moment before', async () => {
    await start();
    const granted = await broker.grant('web');
    expect((await ask('good-alice', '?resource=web')).status).toBe(200);
    await broker.runtime.service.revoke(principal('bob'), granted.id, 'done');
    const after = await ask('good-alice', '?resource=web');
    expect(after.status).toBe(403);
    expect(after.headers.get('x-access-reason')).toBe('no_live_grant');
  });

  it('lets a workload through by policy on a resource that names it, and refuses it on one that does not', async () => {
    await start();
    const allowed = await ask('app-robot', '?resource=web');
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('x-access-kind')).toBe('workload');
    const refused = await ask('app-robot', '?resource=db');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('x-access-reason')).toBe('not_a_workload');
  });

  it('writes one counted entry per grant and per refused caller, resource and code when the window ends', async () => {
    await start();
    const granted = await broker.grant('web');
    for (let i = 0; i < 7; i++) expect((await ask('good-alice', '?resource=web')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await ask('good-mallory', '?resource=web')).status).toBe(403);
    broker.runtime.forwardAuth.flush();
    broker.runtime.audit.batch.flush();
    const { entries } = broker.runtime.audit.queries.events({ afterSeq: 0 });
    const counted = entries.filter((e) => e.type.startsWith('forward_auth.'));
    expect(counted.map((e) => [e.type, e.actor?.oid, e.subject, e.body.count])).toEqual([
      ['forward_auth.allowed', 'alice', granted.id, 7],
      ['forward_auth.refused', 'mallory', null, 3],
    ]);
  });
});
