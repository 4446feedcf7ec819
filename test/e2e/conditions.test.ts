// End to end with real processes: a resource's conditions (README, "Conditions") against
// `access-broker dev --config` and the real CLI. Each condition refuses and then passes: MFA and an
// authentication context by step-up (the broker's claims challenge, the CLI signing in again with
// device code and the claims, retrying once) and a sign-in grown older than maxSignInAge answered
// by a fresh one, a user without MFA refused on the sign-in page, a
// source network refused for the CLI on loopback and passed behind a trusted proxy's
// X-Forwarded-For, and a time window that closes under a live tunnel. Every refusal is audited
// with its condition.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HttpTransport } from '../../shared/http-transport.js';
import type { RequestView } from '../../shared/wire.js';
import {
  DEVICE_CODE_MESSAGE,
  login,
  startDevBrokerProcess,
  submitDeviceLogin,
  tempDir,
  waitForMatch,
  type CliRun,
  type DevBrokerProcess,
} from '../helpers/processes.js';
import { accessToken, signInEach, startListener, type Person } from '../helpers/tunnel-broker.js';
import { connectTcp, echoRoundTrip, type LoopbackServer, startEchoServer } from '../helpers/tunnel-targets.js';

/** How long after the broker's config is written its `hours` window closes: room to start, sign in and connect first. */
const WINDOW_OPEN_FOR_MS = 60_000;
/** fresh-echo's maxSignInAge: long enough for a step-up's retry to fall well inside it. */
const SIGN_IN_AGE_MS = 20_000;

let echo: LoopbackServer;
let broker: DevBrokerProcess;
let alice: Person;
let carol: Person;
let dave: Person;
/** The hours window written into the config ("Sun-Sat HH:MM:SS-HH:MM:SS UTC") and when it ends. */
let window: { text: string; endsAt: number };
/** When everyone had signed in (no later than each sign-in's auth_time). */
let signedInBy: number;

const hhmmss = (at: number): string => new Date(at).toISOString().slice(11, 19);

function resource(name: string, conditions: string[]): string[] {
  return [
    `  ${name}:`,
    '    kind: tcp',
    `    target: 127.0.0.1:${echo.port}`,
    '    requesters: [sg-eng]',
    '    approvers: [sg-dba]',
    '    autoApprove: [sg-eng]',
    '    maxDuration: 1h',
    '    conditions:',
    ...conditions.map((line) => `      ${line}`),
  ];
}

beforeAll(async () => {
  echo = await startEchoServer();
  const dir = await tempDir('conditions');
  const now = Date.now();
  // Whole seconds: the window's text has no milliseconds.
  const endsAt = Math.floor((now + WINDOW_OPEN_FOR_MS) / 1000) * 1000;
  window = { text: `Sun-Sat ${hhmmss(now - 5 * 60_000)}-${hhmmss(endsAt)} UTC`, endsAt };
  const config = [
    'membershipRecheckSeconds: 2',
    // Loopback stands in for the reverse proxy in front of the broker.
    'trustedProxies: [127.0.0.1/32, "::1/128"]',
    'auditors: [sg-audit]',
    'resources:',
    ...resource('mfa-echo', ['requireMfa: true']),
    ...resource('ctx-echo', ['requireAuthContext: c1']),
    ...resource('office-echo', ['sourceNetworks: [10.0.0.0/8]']),
    ...resource('hours-echo', [`hours: "${window.text}"`]),
    ...resource('fresh-echo', [`maxSignInAge: ${SIGN_IN_AGE_MS / 1000}s`]),
    'devTenant:',
    '  groups: [{ name: sg-eng }, { name: sg-dba }, { name: sg-audit }]',
    '  users:',
    '    - { upn: alice@contoso.dev, name: Alice, groups: [sg-eng], mfa: true }',
    '    - { upn: carol@contoso.dev, name: Carol, groups: [sg-eng] }',
    '    - { upn: dave@contoso.dev, name: Dave, groups: [sg-audit] }',
    '',
  ].join('\n');
  const file = path.join(dir, 'conditions.yaml');
  await writeFile(file, config);
  broker = await startDevBrokerProcess(['--config', file]);
  [alice, carol, dave] = await signInEach(broker.url, ['alice', 'carol', 'dave'] as const);
  signedInBy = Date.now();
}, 120_000);

afterAll(async () => {
  await broker?.stop();
  await echo?.close();
});

/** Runs `access ARGS` as `person`, completing the step-up sign-in it starts on the sign-in page as `signInAs`. */
async function withStepUp(person: Person, args: string[], signInAs: string): Promise<{ run: CliRun; page: { status: number; body: string } }> {
  const run = person.start(args);
  const match = await waitForMatch(run.stderr, DEVICE_CODE_MESSAGE);
  const page = await submitDeviceLogin(broker.url, match[2] as string, signInAs);
  return { run, page };
}

interface AuditEntry {
  type: string;
  resource: string | null;
  actor: { upn: string | null } | null;
  body: { action?: string; code?: string; condition?: string; message?: string };
}

async function refusalsIn(resource: string): Promise<AuditEntry[]> {
  const result = await dave.run(['audit', 'events', '--jsonl']);
  if (result.code !== 0) throw new Error(`audit events failed: ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEntry)
    .filter((entry) => entry.type === 'policy.refused' && entry.resource === resource);
}

describe('conditions', () => {
  // First: the window closes a fixed time after the broker started.
  it('a time window admits a tunnel inside it, cuts it live at its end with the window in words, then refuses new requests', async () => {
    const view = await alice.json<RequestView>(['request', 'hours-echo', '--for', '30m']);
    expect(view.state).toBe('approved');
    const listening = await startListener(alice, 'hours-echo');
    const socket = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(socket, 'inside the window')).toBe('inside the window');

    // No byte is needed: the broker cuts the tunnel at the window's end, and `access connect` ends (exit 3).
    const ended = await listening.run.done;
    expect(Date.now()).toBeGreaterThanOrEqual(window.endsAt);
    expect(ended.code).toBe(3);
    expect(ended.stderr).toContain(`the time window of hours-echo (${window.text}) closed`);

    const again = await alice.run(['request', 'hours-echo', '--for', '30m']);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(new RegExp(`hours-echo may be used ${window.text.replace(/[-:]/g, '\\$&')} only; it is \\w{3} \\d\\d:\\d\\d there now`));
    const audited = await refusalsIn('hours-echo');
    expect(audited.map((e) => [e.body.action, e.body.condition, e.body.code])).toContainEqual(['create', 'hours', 'outside_hours']);
  }, 120_000);

  it('maxSignInAge: a sign-in older than the limit is challenged for a fresh one, and the retried request passes', async () => {
    // Waiting for the sign-in to age (the window test above usually took longer already).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, signedInBy + SIGN_IN_AGE_MS + 1_000 - Date.now())));
    const { run, page } = await withStepUp(carol, ['request', 'fresh-echo', '--for', '30m'], 'carol@contoso.dev');
    // A fresh sign-in asks for no second factor: carol, who has none, completes it.
    expect(page.status).toBe(200);
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/fresh-echo requires a sign-in within the last 20s; you signed in [^.]+ ago\. Run `access login` again\./);
    expect(result.stdout).toContain('Approved by policy');
    const audited = await refusalsIn('fresh-echo');
    expect(audited.map((e) => [e.body.condition, e.body.code])).toContainEqual(['maxSignInAge', 'sign_in_too_old']);
  }, 120_000);

  it('requireMfa: a password sign-in is challenged, the CLI signs in again with MFA and the retried request passes; the tunnel then opens', async () => {
    // `access resources` says beforehand what each resource demands.
    const listed = await alice.run(['resources']);
    expect(listed.stdout).toMatch(/mfa-echo .*conditions: multi-factor sign-in/);
    expect(listed.stdout).toMatch(/office-echo .*conditions: from 10\.0\.0\.0\/8/);
    const passwordOnly = await accessToken(alice);
    const { run, page } = await withStepUp(alice, ['request', 'mfa-echo', '--for', '30m'], 'alice@contoso.dev');
    expect(page.status).toBe(200);
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      'The broker asks for a stronger sign-in: mfa-echo requires multi-factor sign-in; run `access login` again and complete MFA.',
    );
    expect(result.stderr).toContain('Signed in again as alice@contoso.dev; retrying once.');
    expect(result.stdout).toContain('Approved by policy');

    const listening = await startListener(alice, 'mfa-echo');
    const socket = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(socket, 'with mfa')).toBe('with mfa');
    socket.destroy();
    listening.run.child.kill('SIGINT');
    await listening.run.done;

    // The WebSocket upgrade refuses the old password-only token before any WebSocket exists: 401 with the claims challenge.
    const refused = await upgradeRefusal(passwordOnly, 'mfa-echo');
    expect(refused.status).toBe(401);
    expect(refused.code).toBe('mfa_required');
    expect(challengeClaims(refused.challenge)).toEqual({ access_token: { amr: { essential: true, values: ['mfa'] } } });
    const audited = await refusalsIn('mfa-echo');
    expect(audited.map((e) => [e.body.action, e.body.condition])).toEqual(
      expect.arrayContaining([
        ['create', 'requireMfa'],
        ['connect', 'requireMfa'],
      ]),
    );

    // Signed in again without MFA, alice's next tunnel meets the challenge on the WebSocket upgrade:
    // `access connect` steps up there too, and the waiting connection goes through.
    const again = await login(broker.url, alice.home, 'alice@contoso.dev', alice.env);
    expect(again.code).toBe(0);
    const relisten = await startListener(alice, 'mfa-echo');
    const waiting = await connectTcp(relisten.host, relisten.port);
    const code = await waitForMatch(relisten.run.stderr, DEVICE_CODE_MESSAGE);
    expect(relisten.run.stderr()).toContain('The broker asks for a stronger sign-in: mfa-echo requires multi-factor sign-in');
    expect((await submitDeviceLogin(broker.url, code[2] as string, 'alice@contoso.dev')).status).toBe(200);
    expect(await echoRoundTrip(waiting, 'stepped up on the tunnel')).toBe('stepped up on the tunnel');
    waiting.destroy();
    relisten.run.child.kill('SIGINT');
    await relisten.run.done;
  }, 120_000);

  it('requireMfa: a user without a second factor is refused on the sign-in page and the CLI says so (exit 1)', async () => {
    const { run, page } = await withStepUp(carol, ['request', 'mfa-echo', '--for', '30m'], 'carol@contoso.dev');
    expect(page.status).toBe(400);
    expect(page.body).toContain('carol@contoso.dev has no second factor registered');
    const result = await run.done;
    expect(result.code).toBe(1);
    // The tenant's own answer (AADSTS50079) reaches the person, not just MSAL's bare OAuth error.
    expect(result.stderr).toContain('error: the stronger sign-in did not complete (sign-in failed: invalid_grant — AADSTS50079');
    expect(result.stderr).toContain('If the sign-in page refused you for lack of a second factor, register one (or ask an admin), then try again.');
  }, 120_000);

  it('requireAuthContext: the challenge asks for acrs c1, the new sign-in carries it and the request passes', async () => {
    const { run } = await withStepUp(alice, ['request', 'ctx-echo', '--for', '30m'], 'alice@contoso.dev');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('ctx-echo requires the authentication context c1');
    const token = await accessToken(alice);
    const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { acrs?: string[]; amr?: string[] };
    expect(claims.acrs).toEqual(['c1']);
    expect(claims.amr).toEqual(['pwd', 'mfa']);
    const audited = await refusalsIn('ctx-echo');
    expect(audited.map((e) => e.body.condition)).toContain('requireAuthContext');
  }, 120_000);

  it('sourceNetworks: the CLI on loopback is refused naming the network and its address; behind the trusted proxy, X-Forwarded-For decides', async () => {
    const refused = await alice.run(['request', 'office-echo', '--for', '30m']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('office-echo can be reached from 10.0.0.0/8 only; you connected from 127.0.0.1.');

    const token = await accessToken(alice);
    const http = new HttpTransport();
    const post = (forwardedFor: string) =>
      http.request(`${broker.url}/v1/requests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
        body: JSON.stringify({ resource: 'office-echo', duration: '30m' }),
      });
    // The client's own claim to be in the office, left of the untrusted hop the proxy appended, counts for nothing.
    const outside = await post('10.1.1.1, 192.0.2.7');
    expect(outside.status).toBe(403);
    expect(JSON.parse(outside.body.toString('utf8'))).toMatchObject({ code: 'network_not_allowed' });
    expect(outside.body.toString('utf8')).toContain('you connected from 192.0.2.7');
    const inside = await post('10.20.30.40');
    expect(inside.status).toBe(201);

    const audited = await refusalsIn('office-echo');
    expect(audited.map((e) => [e.body.condition, e.body.code])).toContainEqual(['sourceNetworks', 'network_not_allowed']);
  }, 120_000);
});

/** Opens /v1/tunnel with `token` and returns the refusal: status, code and the WWW-Authenticate header. */
function upgradeRefusal(token: string, resourceName: string): Promise<{ status: number; code: string; challenge: string }> {
  const url = new URL(`${broker.url}/v1/tunnel`);
  url.protocol = 'ws:';
  url.searchParams.set('resource', resourceName);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.once('open', () => reject(new Error('the tunnel opened')));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        req.destroy();
        const challenge = res.headers['www-authenticate'];
        resolve({ status: res.statusCode ?? 0, code: (JSON.parse(body) as { code: string }).code, challenge: typeof challenge === 'string' ? challenge : '' });
      });
    });
  });
}

function challengeClaims(header: string): unknown {
  expect(header).toMatch(/^Bearer realm="", authorization_uri="[^"]+\/oauth2\/v2\.0\/authorize", error="insufficient_claims", claims="[A-Za-z0-9+/=]+"$/);
  const encoded = /claims="([^"]+)"/.exec(header)?.[1] ?? '';
  return JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
}
