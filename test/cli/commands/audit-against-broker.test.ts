// The audit commands against the real broker side (audit routes, the audit log on SQLite, the long
// poll) on a loopback socket, with the broker tests' fake token verifier: proves the CLI and the
// broker agree on the wire, that --follow sees an entry as it is written, and that Ctrl-C cuts the
// poll that is waiting.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerApp, Verifier } from '../../../broker/app.js';
import { GENESIS_HASH, wireEntryHash } from '../../../broker/audit/entry.js';
import { startRequests, type RequestsRuntime } from '../../../broker/requests/runtime.js';
import { brokerRequestHandler } from '../../../broker/server.js';
import { BrokerClient } from '../../../cli/broker-client.js';
import type { BrokerConnection } from '../../../cli/broker-connection.js';
import { AccessError } from '../../../shared/errors.js';
import { HttpTransport } from '../../../shared/http-transport.js';
import type { AuditEntryView, RequestView } from '../../../shared/wire.js';
import { FakeDirectory, config, principal, recordingLog } from '../../broker/requests/harness.js';
import { harness } from './fakes.js';

const verifier: Verifier = {
  async verify(token) {
    const [kind, oid] = token.split(/-(.*)/s);
    if (kind === 'good' && oid) return principal(oid);
    throw new AccessError('token_signature_invalid', 'the token signature does not verify');
  },
};

let runtime: RequestsRuntime;
let server: http.Server;
let base: string;

beforeAll(async () => {
  const app: BrokerApp = {
    config: config(),
    signIn: { tenantId: 't1', authority: 'https://login.microsoftonline.com/t1', clientId: 'cli', scopes: ['api://x/user_impersonation'], brokerVersion: 'test' },
    verifier, directory: new FakeDirectory(), now: Date.now, log: recordingLog(),
  };
  let n = 0;
  runtime = startRequests({ app, dataFile: ':memory:', newId: () => `req${String(++n).padStart(3, '0')}` });
  app.requests = runtime.service;
  app.audit = runtime.audit;
  server = http.createServer(brokerRequestHandler(app));
  runtime.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const created = await post<RequestView>('/v1/requests', 'alice', { resource: 'prod-db', reason: 'INC-1, "replica"' });
  await post(`/v1/requests/${created.id}/review`, 'bob', { decision: 'approve' });
});

afterAll(async () => {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await runtime.close();
  await closed;
});

async function post<T>(path: string, oid: string, body: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer good-${oid}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST ${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

/** A person at their terminal (ivy is in sg-audit; alice is not). */
function as(oid: string): ReturnType<typeof harness> {
  const connection = { brokerUrl: base, client: new BrokerClient(base, new HttpTransport(), async () => `good-${oid}`) } as BrokerConnection;
  const h = harness({ connection });
  h.ctx.now = Date.now;
  return h;
}

function jsonLines(text: string): AuditEntryView[] {
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as AuditEntryView);
}

describe('access audit against the broker', () => {
  it('exports JSON Lines whose every hash recomputes from the line and chains to the one before', async () => {
    const ivy = as('ivy');
    expect(await ivy.run('audit', 'export', '--jsonl')).toBe(0);
    const entries = jsonLines(ivy.stdout());
    expect(entries.map((e) => e.type)).toEqual(expect.arrayContaining(['request.created', 'request.review_recorded', 'request.approved']));
    entries.forEach((entry, i) => {
      expect(entry.seq).toBe(i + 1);
      expect(wireEntryHash(entry)).toBe(entry.hash);
      expect(entry.prevHash).toBe(i === 0 ? GENESIS_HASH : entries[i - 1]?.hash);
    });
    const head = entries.at(-1);
    const verify = as('ivy');
    expect(await verify.run('audit', 'verify')).toBe(0);
    expect(verify.stdout()).toContain(`head #${head?.seq} ${head?.hash}`);
  });

  it('--follow prints an entry as it is written, and Ctrl-C cuts the poll the broker holds', async () => {
    const ivy = as('ivy');
    const running = ivy.run('audit', 'events', '--follow', '--jsonl');
    await expect.poll(() => ivy.stderr()).toContain('Following the audit log after #');
    await expect.poll(() => runtime.audit.waiting).toBe(1);

    const created = await post<RequestView>('/v1/requests', 'alice', { resource: 'prod-db', reason: 'followed' });
    await expect.poll(() => jsonLines(ivy.stdout()).some((e) => e.type === 'request.created' && e.subject === created.id)).toBe(true);
    // Only what was written after it started.
    expect(jsonLines(ivy.stdout()).every((e) => e.subject === created.id || e.type === 'signin.seen')).toBe(true);

    await expect.poll(() => runtime.audit.waiting).toBe(1);
    ivy.interrupt();
    expect(await running).toBe(0);
    await expect.poll(() => runtime.audit.waiting).toBe(0);
  });

  it('lists a session-less log as no sessions, and shows a request\'s story', async () => {
    const ivy = as('ivy');
    expect(await ivy.run('audit', 'sessions')).toBe(0);
    expect(ivy.stdout()).toBe('No sessions match.\n');
    const show = as('ivy');
    expect(await show.run('audit', 'show', 'req001')).toBe(0);
    expect(show.stdout()).toMatch(/^Request req001 on prod-db by alice@contoso\.com — 0 sessions\n/);
    expect(show.stdout()).toContain('asked for 1h — "INC-1, "replica""');
  });

  it('ends alice, who is no auditor, with exit 3 and the broker\'s message', async () => {
    const alice = as('alice');
    expect(await alice.run('audit', 'events')).toBe(3);
    expect(alice.stderr()).toMatch(/^error: Only members of the auditor groups \(sg-audit\) may read the audit log; alice@contoso\.com is not in any of them/);
    const unknown = as('ivy');
    expect(await unknown.run('audit', 'show', 'nope')).toBe(1);
    expect(unknown.stderr()).toContain('No audit entries for "nope"');
  });
});
