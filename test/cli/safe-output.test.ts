// Terminal escape sequences in broker-supplied strings never reach a person's terminal: each vector
// an attacker controls goes through the real command and printing code, and what comes out holds no
// control character (ESC, BEL, C1, bidi override) — they are shown visibly instead — while --json
// and --jsonl stay exact.

import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { BrokerClient } from '../../cli/broker-client.js';
import type { BrokerConnection } from '../../cli/broker-connection.js';
import { closeWords } from '../../cli/tunnel/close-words.js';
import { startSpinner } from '../../cli/spinner.js';
import { CloseCode } from '../../shared/close-codes.js';
import { HttpTransport } from '../../shared/http-transport.js';
import type { AuditEntryView, AuditEventsResponse, AuditShowResponse } from '../../shared/wire.js';
import { entryView, sessionView } from './audit/views.js';
import { approvedView, harness, makeApproval, makeView, NOW } from './commands/fakes.js';

/** Clears the screen, sets the window title, and paints a fake green "approved" line. */
const CLEAR_AND_TITLE = '\u001b[2J\u001b[H\u001b]0;owned\u0007';
const FAKE_LINE = '\r\n\u001b[32m#99  request.approved  bob approved everything\u001b[0m';
const C1_CSI = '\u009b31m';
const BIDI = 'evil\u202eftp.exe';
const HOSTILE = `x${CLEAR_AND_TITLE}${FAKE_LINE}${C1_CSI}${BIDI}`;

/** Any character a terminal acts on, or that reorders text. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for control characters
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

function expectSafe(text: string): void {
  expect(text).not.toMatch(CONTROL);
  // Shown, not dropped: the auditor sees that something was sent.
  expect(text).toContain('\\x1b[2J');
}

function page(entries: AuditEntryView[]): AuditEventsResponse {
  return { entries, nextAfterSeq: entries.at(-1)?.seq ?? 0, headSeq: entries.at(-1)?.seq ?? 0 };
}

const hostileEntries: AuditEntryView[] = [
  entryView(1, {
    type: 'policy.refused',
    resource: HOSTILE,
    subject: null,
    body: { action: 'request', code: 'unknown_resource', message: `no resource ${HOSTILE}` },
  }),
  entryView(2, { type: 'pg.query', subject: `s-${HOSTILE}`, body: { sql: `select 1; -- ${HOSTILE}`, protocol: 'simple' } }),
  entryView(3, { type: 'pg.startup', body: { database: 'app', dbUser: 'app', applicationName: HOSTILE } }),
  entryView(4, { type: 'session.closed', body: { endReason: 'targetFailed', bytesUp: 1, bytesDown: 2, queries: 1, detail: HOSTILE } }),
  entryView(5, { type: 'request.created', actor: { oid: 'oid-x', upn: HOSTILE }, body: { durationMs: 60_000, reason: HOSTILE, ticket: HOSTILE } }),
];

describe('safe terminal output', () => {
  it('shows control characters in `audit events` visibly: resource, request id, SQL, application_name, close detail, UPN, reason', async () => {
    const h = harness({ routes: { 'GET /v1/audit/events?after_seq=0&limit=250': () => page(hostileEntries) } });
    expect(await h.run('audit', 'events')).toBe(0);
    expectSafe(h.stdout());
    // One line per entry: no newline from an entry made it through.
    expect(h.stdout().trimEnd().split('\n')).toHaveLength(hostileEntries.length);
  });

  it('keeps `audit events --jsonl` exact', async () => {
    const h = harness({ routes: { 'GET /v1/audit/events?after_seq=0&limit=250': () => page(hostileEntries) } });
    expect(await h.run('audit', 'events', '--jsonl')).toBe(0);
    const lines = h
      .stdout()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEntryView);
    expect(lines).toEqual(hostileEntries);
  });

  it('shows control characters in `audit show` visibly: the headline, the sessions table and every entry', async () => {
    const story: AuditShowResponse = {
      id: `r-${HOSTILE}`,
      kind: 'request',
      requestId: `r-${HOSTILE}`,
      sessions: [sessionView({ id: HOSTILE, resource: HOSTILE, reason: HOSTILE, endReason: HOSTILE })],
      entries: hostileEntries,
      truncated: false,
    };
    const h = harness({ routes: { 'GET /v1/audit/show/r1': () => story } });
    expect(await h.run('audit', 'show', 'r1')).toBe(0);
    expectSafe(h.stdout());
  });

  it('shows a hostile request id the broker quotes in its refusal visibly (`access approve ID`, `access audit show ID`)', async () => {
    // A real HTTP answer through the real BrokerClient: the broker quotes the id it could not find.
    const server = createServer((req, res) => {
      const id = decodeURIComponent((req.url ?? '').split('/')[4] ?? '');
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'request_not_found', message: `no request "${id}" — check the id` }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const client = new BrokerClient(`http://127.0.0.1:${port}`, new HttpTransport());
      const h = harness({ connection: { client } as unknown as BrokerConnection });
      expect(await h.run('approve', HOSTILE)).toBe(1);
      expect(await h.run('audit', 'show', HOSTILE)).toBe(1);
      expectSafe(h.stderr());
      // Each refusal on one line: the quoted newline made no fake line.
      expect(h.stderr().trimEnd().split('\n')).toHaveLength(2);
    } finally {
      server.close();
    }
  });

  it('shows control characters in the approvals and requests tables, and keeps --json exact', async () => {
    const approval = makeApproval({ resource: HOSTILE, reason: HOSTILE, ticket: HOSTILE, requester: { oid: 'o', upn: HOSTILE } });
    const mine = makeView({ resource: HOSTILE, reason: HOSTILE });
    const h = harness({
      routes: {
        'GET /v1/approvals?limit=100': () => ({ approvals: [approval] }),
        'GET /v1/requests?state=pending%2Capproved&limit=100': () => ({ requests: [mine] }),
      },
    });
    expect(await h.run('approvals')).toBe(0);
    expect(await h.run('requests')).toBe(0);
    expectSafe(h.stdout());
    const json = harness({ routes: { 'GET /v1/approvals?limit=100': () => ({ approvals: [approval] }) } });
    expect(await json.run('approvals', '--json')).toBe(0);
    expect(JSON.parse(json.stdout())).toEqual([approval]);
  });

  it('shows control characters in a review result and in a live feed line (`access watch`)', async () => {
    const revoked = approvedView({ resource: HOSTILE, state: 'revoked', closeReason: HOSTILE, closedBy: { oid: 'o', upn: HOSTILE } });
    const h = harness({ routes: { [`POST /v1/requests/r1/review`]: () => approvedView({ resource: HOSTILE, requester: { oid: 'o', upn: HOSTILE } }) } });
    expect(await h.run('approve', 'r1')).toBe(0);
    const running = h.run('watch');
    await new Promise((resolve) => setImmediate(resolve));
    h.events.push({ type: 'hello', oid: 'oid-me', upn: 'me@contoso.com', at: new Date(NOW).toISOString() } as never);
    h.events.push({ type: 'request', change: 'revoked', request: revoked } as never);
    h.events.push({ type: 'disconnected', reason: HOSTILE, retryInMs: 500 });
    // The command loads lazily: interrupt only once it is listening (it has shown the last event).
    await vi.waitFor(() => expect(h.stderr()).toContain('lost the broker'), { timeout: 10_000 });
    h.interrupt();
    expect(await running).toBe(0);
    expectSafe(h.stdout());
    expectSafe(h.stderr());
  });

  it('shows control characters in a WebSocket close reason visibly', () => {
    const subject = { name: 'prod-db', kind: 'postgres', expiresAt: null };
    for (const code of [CloseCode.grantRevoked, CloseCode.targetFailed, 1011, 4999]) {
      expectSafe(closeWords({ code, reason: HOSTILE }, subject, NOW));
    }
  });

  it('shows control characters in spinner text visibly', () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true });
    let written = '';
    stream.on('data', (c: Buffer) => (written += c.toString()));
    const spinner = startSpinner(stream, `waiting ${HOSTILE}`);
    spinner.update(`lost the broker (${HOSTILE})`);
    spinner.stop();
    // The spinner's own line clearing (CR + erase line) is its only escape sequence.
    expectSafe(written.replaceAll('\r\u001b[2K', ''));
  });
});
