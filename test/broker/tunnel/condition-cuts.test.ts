// A resource's conditions on the tunnel: refused before the upgrade with the claims challenge in
// WWW-Authenticate (and audited), and a live tunnel cut when they stop holding — here the sign-in
// growing older than maxSignInAge, cut at that instant by the conditions deadline (4117), reason
// in words, recorded in the session row.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode } from '../../../shared/close-codes.js';
import { principal, resource } from '../requests/harness.js';
import { echo, startTarget, startTunnelBroker, TunnelClient, until, type Target, type TunnelBroker } from './harness.js';

const AGE_MS = 1_500;
let broker: TunnelBroker;
let target: Target;

beforeAll(async () => {
  target = await startTarget(echo);
  broker = await startTunnelBroker(
    [
      resource('fresh-db', {
        kind: 'tcp',
        target: { host: '127.0.0.1', port: target.port },
        autoApprove: ['sg-eng'],
        conditions: { requireMfa: false, requireAuthContext: null, maxSignInAgeMs: AGE_MS, sourceNetworks: null, hours: null },
      }),
    ],
    // A long re-check: the cut below comes from the conditions deadline, not from a re-check tick.
    { tunnel: { membershipRecheckMs: 60_000 } },
  );
});

afterAll(async () => {
  await broker.close();
  await target.close();
});

/** A grant (approved by policy) asked for by alice, freshly signed in: the request is held to the condition too. */
async function grant(): Promise<void> {
  const alice = { ...principal('alice'), signIn: { amr: ['pwd'], acrs: [], authTime: Date.now() } };
  const view = await broker.runtime.service.create(alice, { resource: 'fresh-db', duration: '1h' });
  expect(view.state).toBe('approved');
}

/** The refusal of an upgrade: status, code and WWW-Authenticate. */
function refusal(token: string): Promise<{ status: number; code: string; challenge: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${broker.wsBase}/v1/tunnel?resource=fresh-db`, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.once('open', () => reject(new Error('the WebSocket opened')));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, code: (JSON.parse(body) as { code: string }).code, challenge: String(res.headers['www-authenticate'] ?? '') }),
      );
    });
  });
}

describe('conditions on tunnels', () => {
  it('refuses a token that does not say when its user signed in: 401 with the claims challenge, before any WebSocket, audited', async () => {
    await grant();
    const refused = await refusal('good-alice');
    expect([refused.status, refused.code]).toEqual([401, 'sign_in_too_old']);
    expect(refused.challenge).toMatch(/^Bearer realm="", authorization_uri="[^"]*", error="insufficient_claims", claims="[A-Za-z0-9+/=]+"$/);
    const claims = /claims="([^"]+)"/.exec(refused.challenge)?.[1] ?? '';
    expect(JSON.parse(Buffer.from(claims, 'base64').toString('utf8'))).toEqual({ access_token: { auth_time: { essential: true } } });
    const entry = broker.runtime.audit.queries.events({ afterSeq: 0 }).entries.find((e) => e.type === 'policy.refused');
    expect(entry).toMatchObject({ resource: 'fresh-db', body: { action: 'connect', code: 'sign_in_too_old', condition: 'maxSignInAge' } });
  });

  it('cuts a live tunnel with 4117 when the sign-in it opened with grows older than maxSignInAge', async () => {
    await grant();
    const signedInAt = Date.now();
    const client = await TunnelClient.open(broker.wsBase, 'fresh-db', `signedin${signedInAt}-alice`);
    client.ws.send(Buffer.from('ping'));
    await client.receive(4);
    const closed = await client.closed;
    expect(closed.code).toBe(CloseCode.conditionUnmet);
    expect(closed.at).toBeGreaterThanOrEqual(signedInAt + AGE_MS);
    expect(closed.reason).toMatch(/^fresh-db requires a sign-in within the last 1\.5s|^fresh-db requires a sign-in within the last 2s/);
    await until(() => broker.sessions({ resource: 'fresh-db', limit: 1 })[0]?.endedAt != null);
    expect(broker.sessions({ resource: 'fresh-db', limit: 1 })[0]?.reason).toBe('conditionUnmet');
  });
});
