// End to end with real processes: notifications. A dev broker posts to real HTTP receivers on
// loopback (port 0): Slack and Teams incoming-webhook messages with the exact `access approve ID`
// command and the requester's text escaped for each format, and the generic webhook's JSON whose
// X-Access-Signature the test verifies with the shared secret, as a receiver would. A receiver
// that fails still gets the notice once it recovers — three failures, one of them after the
// broker was restarted, then delivery with the same X-Access-Delivery id — and each failure is in
// the broker's log.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestView } from '../../shared/wire.js';
import { freePort, startDevBrokerProcess, tempDir, type DevBrokerProcess } from '../helpers/processes.js';
import { eventually, signInEach, type Person } from '../helpers/tunnel-broker.js';

/** The generic webhook's key, as an operator would make it (`openssl rand -hex 32`). */
const SECRET = `${'f'.repeat(16)}0123456789abcdef0123456789abcdef`;
/** How old a signature a receiver accepts (the scheme's replay window, README "Notifications"). */
const TOLERANCE_S = 300;

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
}

/** An HTTP server on 127.0.0.1:0 that records every POST; `answer` picks the status per request. */
async function startReceiver(answer: (path: string) => number): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const status = answer(req.url ?? '');
      received.push({ path: req.url ?? '', headers: req.headers, body, status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'receiver down');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** The receiver's side of the scheme: t and v1 from the header, HMAC over "t.body", constant-time compare, recent t. */
function verifySignature(header: string | undefined, body: string, secret: string, nowSeconds: number): boolean {
  const parts = Object.fromEntries((header ?? '').split(',').map((kv) => kv.split('=', 2) as [string, string]));
  const t = Number(parts['t']);
  const v1 = parts['v1'] ?? '';
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > TOLERANCE_S) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

let receiver: Awaited<ReturnType<typeof startReceiver>>;
let broker: DevBrokerProcess;
let startBroker: () => Promise<DevBrokerProcess>;
let earlierOutput = '';
let alice: Person;
let bob: Person;
let olive: Person;
/** The flaky destination answers 500 until this is set (and it failed at least three times). */
let recovered = false;

beforeAll(async () => {
  receiver = await startReceiver((p) => {
    if (p !== '/flaky') return 200;
    const failures = receiver.received.filter((r) => r.path === '/flaky' && r.status >= 500).length;
    return recovered && failures >= 3 ? 200 : 500;
  });
  const dir = await tempDir('notify');
  const config = path.join(dir, 'access.yaml');
  await writeFile(
    config,
    [
      'resources:',
      '  demo:',
      '    kind: tcp',
      '    target: 127.0.0.1:9',
      '    requesters: [sg-eng]',
      '    approvers: [sg-dba]',
      '    maxDuration: 1h',
      '    breakGlass: { groups: [sg-oncall], maxDuration: 30m }',
      'notifications:',
      '  retry: { firstDelay: 2s, maxDelay: 4s, attempts: 30 }',
      '  destinations:',
      '    - { name: slack, kind: slack, urlEnv: TEST_SLACK_URL, events: [new_request, decision] }',
      '    - { name: teams, kind: teams, urlFile: teams-url.txt, events: [new_request, decision] }',
      `    - { name: siem, kind: webhook, url: "${receiver.url}/hook", secretEnv: TEST_HOOK_SECRET, events: [new_request, decision] }`,
      '    - { name: flaky, kind: webhook, urlEnv: TEST_FLAKY_URL, secretEnv: TEST_HOOK_SECRET, events: [break_glass] }',
      'devTenant:',
      '  groups: [{ name: sg-eng }, { name: sg-dba }, { name: sg-oncall }]',
      '  users:',
      '    - { upn: alice@contoso.dev, name: Alice, groups: [sg-eng] }',
      '    - { upn: bob@contoso.dev, name: Bob, groups: [sg-dba] }',
      '    - { upn: olive@contoso.dev, name: Olive, groups: [sg-oncall] }',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(dir, 'teams-url.txt'), `${receiver.url}/teams\n`);
  const port = await freePort();
  const env = { TEST_SLACK_URL: `${receiver.url}/slack`, TEST_FLAKY_URL: `${receiver.url}/flaky`, TEST_HOOK_SECRET: SECRET };
  startBroker = () => startDevBrokerProcess(['--data', path.join(dir, 'data'), '--config', config], env, { port });
  broker = await startBroker();
  [alice, bob, olive] = await signInEach(broker.url, ['alice', 'bob', 'olive'] as const);
});

afterAll(async () => {
  await broker?.stop();
  await receiver?.close();
});

function bodiesAt(p: string): Received[] {
  return receiver.received.filter((r) => r.path === p);
}

describe('notifications', () => {
  it('posts a new request to Slack, Teams and the signed webhook with the exact approve command, escaping what the requester typed', async () => {
    const reason = 'INC-7 <b>urgent</b> & *now* [x](http://evil)';
    const created = await alice.json<RequestView>(['request', 'demo', '--for', '30m', '--reason', reason, '--no-wait']);
    const command = `access approve ${created.id}`;
    const found = await eventually('the three destinations to get the new request', async () => {
      const slack = bodiesAt('/slack').find((r) => r.body.includes(created.id));
      const teams = bodiesAt('/teams').find((r) => r.body.includes(created.id));
      const hook = bodiesAt('/hook').find((r) => r.body.includes(created.id));
      return slack && teams && hook ? { slack, teams, hook } : undefined;
    });

    const slack = JSON.parse(found.slack.body) as { text: string; blocks: { type: string; text?: { type: string; text: string } }[] };
    expect(slack.text).toContain(command);
    // Slack's escaping in the parsed fallback text; the blocks carry the reason as plain_text, never as mrkdwn.
    expect(slack.text).toContain('INC-7 &lt;b&gt;urgent&lt;/b&gt; &amp; *now*');
    expect(slack.text).not.toContain('<b>');
    expect(slack.blocks).toContainEqual({ type: 'section', text: { type: 'plain_text', text: `Reason: ${reason}` } });
    expect(slack.blocks).toContainEqual({ type: 'section', text: { type: 'mrkdwn', text: `\`${command}\`` } });
    expect(slack.blocks.filter((b) => b.text?.type === 'mrkdwn').map((b) => b.text?.text)).toEqual([`\`${command}\``]);

    const teams = JSON.parse(found.teams.body) as {
      type: string;
      attachments: { contentType: string; content: { type: string; version: string; body: { text: string; fontType?: string }[] } }[];
    };
    expect(teams.type).toBe('message');
    expect(teams.attachments[0]?.contentType).toBe('application/vnd.microsoft.card.adaptive');
    const card = teams.attachments[0]?.content;
    expect(card).toMatchObject({ type: 'AdaptiveCard', version: '1.4' });
    expect(card?.body).toContainEqual({ type: 'TextBlock', text: command, fontType: 'Monospace', wrap: true });
    expect(card?.body.map((b) => b.text)).toContain('Reason: INC\\-7 \\<b\\>urgent\\</b\\> & \\*now\\* \\[x\\]\\(http://evil\\)');

    expect(found.hook.headers['content-type']).toBe('application/json');
    expect(verifySignature(found.hook.headers['x-access-signature'] as string, found.hook.body, SECRET, Math.floor(Date.now() / 1000))).toBe(true);
    expect(
      verifySignature(found.hook.headers['x-access-signature'] as string, found.hook.body.replace('30m', '31m'), SECRET, Math.floor(Date.now() / 1000)),
    ).toBe(false);
    expect(verifySignature(found.hook.headers['x-access-signature'] as string, found.hook.body, 'another secret', Math.floor(Date.now() / 1000))).toBe(false);
    const hook = JSON.parse(found.hook.body) as Record<string, unknown>;
    expect(hook).toMatchObject({
      id: found.hook.headers['x-access-delivery'],
      kind: 'new_request',
      change: 'created',
      command,
      reason,
      request: { id: created.id, state: 'pending' },
    });

    // The decision is a notice too, and never waits for the destinations.
    const approve = await bob.run(['approve', created.id]);
    expect(approve.code, approve.stderr).toBe(0);
    const decision = await eventually('the decision notice', async () =>
      bodiesAt('/hook').find((r) => r.body.includes('"kind":"decision"') && r.body.includes(created.id)),
    );
    expect(JSON.parse(decision.body)).toMatchObject({ change: 'approved', request: { id: created.id, state: 'approved' } });
  });

  it('delivers a break-glass notice to a receiver that failed three times, across a broker restart, with the same delivery id', async () => {
    const taken = await olive.json<RequestView>(['request', 'demo', '--break-glass', '--reason', 'INC-8: demo down', '--for', '10m']);
    expect(taken.breakGlass).toBe(true);
    const first = await eventually('the first failed try', async () => bodiesAt('/flaky').find((r) => r.body.includes(taken.id)));
    expect(first.status).toBe(500);
    earlierOutput = broker.output();
    await broker.stop();
    const failuresBeforeRestart = bodiesAt('/flaky').length;
    broker = await startBroker();
    // The restarted broker tries again from its outbox (and fails while the receiver is still down).
    await eventually('a failed try by the restarted broker', async () => (bodiesAt('/flaky').length > failuresBeforeRestart ? true : undefined), 60_000);
    await eventually('three failed tries', async () => (bodiesAt('/flaky').filter((r) => r.status === 500).length >= 3 ? true : undefined), 60_000);
    recovered = true;
    const delivered = await eventually('the delivery after the receiver recovered', async () => bodiesAt('/flaky').find((r) => r.status === 200), 60_000);

    const tries = bodiesAt('/flaky');
    expect(new Set(tries.map((r) => r.headers['x-access-delivery'])).size).toBe(1);
    expect(JSON.parse(delivered.body)).toMatchObject({
      kind: 'break_glass',
      command: `access review ${taken.id} --verdict acceptable|not-acceptable --comment "…"`,
      request: { id: taken.id, breakGlass: true },
    });
    expect(verifySignature(delivered.headers['x-access-signature'] as string, delivered.body, SECRET, Math.floor(Date.now() / 1000))).toBe(true);
    const logs = `${earlierOutput}\n${broker.output()}`;
    expect(logs).toContain('notification delivery failed');
    expect(logs).toContain('HTTP 500: receiver down');
    // Logged once the broker has read the receiver's answer.
    expect(
      await eventually('the broker to log the delivery', async () => (broker.output().includes('notification delivered after retries') ? true : undefined)),
    ).toBe(true);
  });
});
