// The audit commands against the real broker side (audit routes, the audit log on SQLite, the long
// poll) on a loopback socket, with the broker tests' fake token verifier: proves the CLI and the
// broker agree on the wire, that --follow sees an entry as it is written, and that Ctrl-C cuts the
// poll that is waiting.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, wireEntryHash } from '../../../broker/audit/entry.js';
import type { AssembledBroker } from '../../../broker/assemble.js';
import { BrokerClient } from '../../../cli/broker-client.js';
import type { BrokerConnection } from '../../../cli/broker-connection.js';
import { HttpTransport } from '../../../shared/http-transport.js';
import type { AuditEntryView, RequestView } from '../../../shared/wire.js';
import { startTestBroker, type TestBroker } from '../../broker/events/broker-harness.js';
import { harness } from './fakes.js';

let broker: TestBroker;
let runtime: AssembledBroker;
let base: string;

beforeAll(async () => {
  broker = await startTestBroker();
  runtime = broker.runtime;
  base = broker.base;
  const created = await post<RequestView>('/v1/requests', 'alice', { resource: 'prod-db', reason: 'INC-1, "replica"' });
  await post(`/v1/requests/${created.id}/review`, 'bob', { decision: 'approve' });
});

afterAll(async () => {
  await broker.close();
});

async function post<T>(path: string, oid: string, body: unknown): Promise<T> {
  const res = await broker.call('POST', path, `good-${oid}`, body);
  if (res.status < 200 || res.status >= 300) throw new Error(`POST ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as T;
}

/** A person at their terminal (ivy is in sg-audit; alice is not). */
function as(oid: string): ReturnType<typeof harness> {
  const connection = { brokerUrl: base, client: new BrokerClient(base, new HttpTransport(), async () => `good-${oid}`) } as BrokerConnection;
  const h = harness({ connection });
  h.ctx.now = Date.now;
  return h;
}

function jsonLines(text: string): AuditEntryView[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEntryView);
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

  it("lists a session-less log as no sessions, and shows a request's story", async () => {
    const ivy = as('ivy');
    expect(await ivy.run('audit', 'sessions')).toBe(0);
    expect(ivy.stdout()).toBe('No sessions match.\n');
    const show = as('ivy');
    expect(await show.run('audit', 'show', 'req001')).toBe(0);
    expect(show.stdout()).toMatch(/^Request req001 on prod-db by alice@contoso\.com — 0 sessions\n/);
    expect(show.stdout()).toContain('asked for 1h — "INC-1, "replica""');
  });

  it("ends alice, who is no auditor, with exit 3 and the broker's message", async () => {
    const alice = as('alice');
    expect(await alice.run('audit', 'events')).toBe(3);
    expect(alice.stderr()).toMatch(/^error: Only members of the auditor groups \(sg-audit\) may read the audit log; alice@contoso\.com is not in any of them/);
    const unknown = as('ivy');
    expect(await unknown.run('audit', 'show', 'nope')).toBe(1);
    expect(unknown.stderr()).toContain('No audit entries for "nope"');
  });
});
