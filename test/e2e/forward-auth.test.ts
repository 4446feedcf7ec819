// End to end with real processes: Debian's nginx (auth_request) and HAProxy (deploy/haproxy's Lua
// action) in front of a node app, each started from the repo's copy-paste config, asking an
// `access-broker dev` for every request. A caller without a token is challenged (401), one without a
// grant refused (403, and the app never sees the request), one with a grant let through with their
// identity in headers the client cannot forge, and the first request after a revoke is refused: the
// decision cache drops the grant the moment the revoke commits. Decisions reach the audit log counted
// per grant and window, not one entry per request.

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntryView, AuditShowResponse, RequestView } from '../../shared/wire.js';
import { REPO, startDevBrokerProcess, tempDir, type DevBrokerProcess } from '../helpers/processes.js';
import { haproxyMissing, nginxMissing, startHaproxy, startNginx, startUpstream, type RunningProxy, type Upstream } from '../helpers/proxies.js';
import { BrokerApi, accessToken, eventually, grant, signIn, writeConfigFromTemplate, type Person } from '../helpers/tunnel-broker.js';

const CONFIG_TEMPLATE = path.join(REPO, 'test/fixtures/forward-auth.yaml');
/** Requests sent through a proxy under one grant before it is revoked. */
const REQUESTS_UNDER_GRANT = 5;

let broker: DevBrokerProcess;
let upstream: Upstream;
let api: BrokerApi;
let alice: Person;
let bob: Person;
let auditorToken: string;
const proxies: Partial<Record<RunningProxy['name'], RunningProxy>> = {};
/** Both proxies run the same tests: without either, the file skips, saying why. */
const MISSING = nginxMissing() ?? haproxyMissing();
if (MISSING) console.warn(`skipping the forward-auth end-to-end tests: ${MISSING}`);

beforeAll(async () => {
  if (MISSING) return;
  upstream = await startUpstream();
  const dir = await tempDir('forward-auth');
  const config = await writeConfigFromTemplate(CONFIG_TEMPLATE, dir, { UPSTREAM_PORT: upstream.port });
  broker = await startDevBrokerProcess(['--data', path.join(dir, 'data'), '--config', config]);
  api = new BrokerApi(broker.url);
  [alice, bob] = await Promise.all([
    signIn(broker.url, 'alice@contoso.dev', await tempDir('alice')),
    signIn(broker.url, 'bob@contoso.dev', await tempDir('bob')),
  ]);
  auditorToken = await accessToken(await signIn(broker.url, 'dave@contoso.dev', await tempDir('dave')));
  const setup = { broker: broker.url, resource: 'web', upstreamPort: upstream.port };
  proxies.nginx = await startNginx(setup);
  proxies.haproxy = await startHaproxy(setup);
});

afterAll(async () => {
  for (const proxy of Object.values(proxies)) await proxy?.stop();
  await broker?.stop();
  await upstream?.close();
});

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

async function get(proxy: RunningProxy, urlPath: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${proxy.url}${urlPath}`, { headers });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** The requests the app saw for `urlPath`. */
function seenAt(urlPath: string): number {
  return upstream.seen.filter((request) => request.path === urlPath).length;
}

async function entriesOf(subject: string, type: AuditEntryView['type']): Promise<AuditEntryView[]> {
  const story = await api.get<AuditShowResponse>(auditorToken, `/v1/audit/show/${encodeURIComponent(subject)}`);
  return story.entries.filter((entry) => entry.type === type);
}

describe.skipIf(MISSING !== null).each(['nginx', 'haproxy'] as const)('forward-auth through %s', (name) => {
  const proxy = (): RunningProxy => proxies[name] as RunningProxy;

  it('challenges a caller without a token: 401 with a Bearer WWW-Authenticate, and the app never sees the request', async () => {
    const answer = await get(proxy(), `/${name}/anonymous`);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(seenAt(`/${name}/anonymous`)).toBe(0);
  });

  it('refuses a signed-in person without a grant: 403, and the app never sees the request', async () => {
    const answer = await get(proxy(), `/${name}/no-grant`, { authorization: `Bearer ${await accessToken(alice)}` });
    expect(answer.status).toBe(403);
    expect(seenAt(`/${name}/no-grant`)).toBe(0);
  });

  it('lets a person with a grant through with their identity, replacing identity headers the client forged', async () => {
    const granted = await grant(alice, 'web', '30m');
    try {
      // `access token` prints the token a script sends, as in the README's curl line.
      const printed = await alice.run(['token']);
      expect(printed.code).toBe(0);
      const answer = await get(proxy(), `/${name}/granted`, {
        authorization: `Bearer ${printed.stdout.trim()}`,
        'x-access-user': 'mallory@contoso.dev',
        'x-access-grant': 'forged',
      });
      expect(answer.status).toBe(200);
      const seen = JSON.parse(answer.body) as { headers: Record<string, string | undefined> };
      expect(seen.headers['x-access-user']).toBe('alice@contoso.dev');
      expect(seen.headers['x-access-kind']).toBe('user');
      expect(seen.headers['x-access-grant']).toBe(granted.id);
      expect(seen.headers['x-access-name']).toBe('Alice Requester');
      // The app sees who, never the token itself.
      expect(seen.headers.authorization).toBeUndefined();
    } finally {
      await bob.run(['revoke', granted.id, '--reason', 'test cleanup']);
    }
  });

  it('refuses the first request after a revoke, though the same token was let through a moment before', async () => {
    const granted = await grant(alice, 'web', '30m');
    const token = await accessToken(alice);
    for (let i = 0; i < REQUESTS_UNDER_GRANT; i++) {
      expect((await get(proxy(), `/${name}/before-revoke`, { authorization: `Bearer ${token}` })).status).toBe(200);
    }
    const revoked = await bob.json<RequestView>(['revoke', granted.id, '--reason', 'INC-1: done', '--json']);
    expect(revoked.state).toBe('revoked');
    const after = await get(proxy(), `/${name}/after-revoke`, { authorization: `Bearer ${token}` });
    expect(after.status).toBe(403);
    expect(seenAt(`/${name}/after-revoke`)).toBe(0);
    expect(seenAt(`/${name}/before-revoke`)).toBe(REQUESTS_UNDER_GRANT);

    // The audit log counts the grant's requests in entries per window (1 s in the fixture), not one per request.
    const allowed = await eventually(`forward_auth.allowed entries counting ${REQUESTS_UNDER_GRANT} requests of grant ${granted.id}`, async () => {
      const entries = await entriesOf(granted.id, 'forward_auth.allowed');
      const counted = entries.reduce((sum, entry) => sum + Number(entry.body.count), 0);
      return counted === REQUESTS_UNDER_GRANT ? entries : undefined;
    });
    expect(allowed.length).toBeLessThan(REQUESTS_UNDER_GRANT);
    expect(allowed[0]?.actor?.upn).toBe('alice@contoso.dev');
  });
});
