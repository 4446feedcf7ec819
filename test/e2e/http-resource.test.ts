// `kind: http` resources end to end, all real processes: `access-broker dev` with
// test/fixtures/http.yaml, people signed in with the CLI, `access connect web` listening, and a web
// app of the test's own on loopback as the target. curl and a headless Chromium use the app through
// the printed URL; the app answers with what it was sent, so each test checks what the target saw:
// the broker's identity headers and signed token, never the ones a client forged. Every request is
// in the session's audit story (`access audit show`), and a revoke cuts a live keep-alive connection
// in the middle of a streaming response.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { AuditSessionView, AuditShowResponse } from '../../shared/wire.js';
import { Chromium, chromiumMissing } from '../helpers/chromium.js';
import { REPO, startDevBrokerProcess, tempDir, type CliResult, type DevBrokerProcess } from '../helpers/processes.js';
import { accessToken, BrokerApi, eventually, grant, signIn, startListener, stopListener, type Listening, type Person } from '../helpers/tunnel-broker.js';

/** The design's promise: every tunnel of a revoked grant closes within a second (plus a busy machine's slack). */
const REVOKE_CUT_MS = 2_000;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  /** The broker's upstream connection, as the app sees it. */
  remotePort: number;
}

/** The target: a small web app that tells what it was sent. */
interface WebApp {
  port: number;
  seen: Seen[];
  /** Bytes of the /hold upload seen so far (the test waits on them). */
  held: number;
  /** /stream responses whose connection closed. */
  streamsClosed: number;
  close(): Promise<void>;
}

const PAGE = `<!doctype html><title>web</title><div id="who">…</div><script src="/app.js"></script>`;
const APP_JS = `fetch('/whoami', { headers: { 'X-Access-User': 'mallory@evil.example' } }).then((r) => r.json()).then((seen) => {
  document.getElementById('who').textContent = seen.headers['x-access-user'];
  window.seen = seen;
});`;

async function startWebApp(): Promise<WebApp> {
  const app: WebApp = { port: 0, seen: [], held: 0, streamsClosed: 0, close: () => Promise.resolve() };
  const note = (req: http.IncomingMessage): void => {
    app.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, remotePort: req.socket.remotePort ?? 0 });
  };
  const server = http.createServer((req, res) => {
    note(req);
    const url = req.url ?? '/';
    if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    } else if (url === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(APP_JS);
    } else if (url.startsWith('/whoami')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ headers: req.headers, rawHeaders: req.rawHeaders }));
    } else if (url === '/upload' || url === '/hold') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        if (url === '/hold') app.held = bytes;
      });
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
    } else if (url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('tick\n'), 50);
      res.once('close', () => {
        clearInterval(timer);
        app.streamsClosed++;
      });
    } else {
      res.writeHead(404).end('not found');
    }
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    note(req);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ user: req.headers['x-access-user'], token: typeof req.headers['x-access-token'] === 'string' }));
      ws.on('message', (data) => ws.send(`echo: ${String(data)}`));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  app.port = (server.address() as AddressInfo).port;
  app.close = async () => {
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return app;
}

function run(file: string, args: string[]): Promise<CliResult> {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

let app: WebApp;
let broker: DevBrokerProcess;
let api: BrokerApi;
let alice: Person;
let bob: Person;
let dave: Person;
let daveToken: string;
let web: Listening;
let url: string;
let dir: string;
/** The session of the keep-alive test's three requests (the app saw its id in X-Access-Session). */
let keepAliveSession: string;

beforeAll(async () => {
  dir = await tempDir('http-resource');
  app = await startWebApp();
  const template = await readFile(path.join(REPO, 'test/fixtures/http.yaml'), 'utf8');
  const config = path.join(dir, 'http.yaml');
  await writeFile(config, template.replace(/\$\{WEB_PORT\}/g, String(app.port)));
  broker = await startDevBrokerProcess(['--data', path.join(dir, 'data'), '--config', config]);
  api = new BrokerApi(broker.url);
  [alice, bob, dave] = await Promise.all([
    signIn(broker.url, 'alice@contoso.dev', await tempDir('alice')),
    signIn(broker.url, 'bob@contoso.dev', await tempDir('bob')),
    signIn(broker.url, 'dave@contoso.dev', await tempDir('dave')),
  ]);
  daveToken = await accessToken(dave);
  await grant(alice, 'web', '1h');
  web = await startListener(alice, 'web');
  url = `http://127.0.0.1:${web.port}/`;
}, 120_000);

afterAll(async () => {
  if (web) await stopListener(web);
  await broker?.stop();
  await app?.close();
});

/** The sessions of `resource`, newest first, as the auditor sees them. */
function sessions(resource: string): Promise<AuditSessionView[]> {
  return api.sessions(daveToken, resource);
}

/** The audit story of session `id` once it holds `type` entries matching `matches`. */
function storyWith(id: string, matches: (story: AuditShowResponse) => boolean): Promise<AuditShowResponse> {
  return eventually(`the audit story of session ${id}`, async () => {
    const story = await api.get<AuditShowResponse>(daveToken, `/v1/audit/show/${encodeURIComponent(id)}`);
    return matches(story) ? story : undefined;
  });
}

describe('an http resource through `access connect`', () => {
  it('prints the URL to open', () => {
    expect(web.run.stdout()).toContain(`Connect with: curl ${url} (or open it in a browser)`);
  });

  it("gives curl the app with the broker's identity headers, drops the ones curl forged, and the target can verify the signed token", async () => {
    const before = app.seen.length;
    const result = await run('curl', [
      '-sS',
      '-H',
      'X-Access-User: mallory@evil.example',
      '-H',
      'x-access-user-id: 00000000-0000-0000-0000-000000000000',
      '-H',
      'X-Access-Token: forged',
      '-H',
      'Connection: X-Custom-Hop',
      '-H',
      'X-Custom-Hop: dropped',
      `${url}whoami?from=curl`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const seen = app.seen.slice(before);
    expect(seen).toHaveLength(1);
    const raw = seen[0]?.rawHeaders ?? [];
    const values = (name: string): string[] => pick(raw, name);
    expect(values('x-access-user')).toEqual(['alice@contoso.dev']);
    expect(values('x-access-user-id')).toHaveLength(1);
    expect(values('x-access-user-id')[0]).not.toBe('00000000-0000-0000-0000-000000000000');
    expect(values('x-access-resource')).toEqual(['web']);
    expect(values('host')).toEqual([`127.0.0.1:${app.port}`]);
    expect(values('x-forwarded-host')).toEqual([`127.0.0.1:${web.port}`]);
    expect(values('x-custom-hop')).toEqual([]);
    const tokens = values('x-access-token');
    expect(tokens).toHaveLength(1);
    // As a target does: the broker's public JWKS, the issuer and this resource as the audience.
    const jwks = createRemoteJWKSet(new URL(`${broker.url}/v1/identity/jwks`));
    const { payload } = await jwtVerify(tokens[0] as string, jwks, { issuer: 'access-broker', audience: 'web', algorithms: ['ES256'] });
    expect(payload).toMatchObject({ sub: values('x-access-user-id')[0], upn: 'alice@contoso.dev', sid: values('x-access-session')[0] });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(60);
    await expect(jwtVerify('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.AAAA', jwks)).rejects.toThrow();
  });

  it('keeps one connection alive for several requests and one upstream connection behind it', async () => {
    const before = app.seen.length;
    const result = await run('curl', ['-sS', '-v', `${url}whoami?n=1`, `${url}whoami?n=2`, `${url}whoami?n=3`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Re-using existing connection|Reusing existing/);
    const seen = app.seen.slice(before);
    expect(seen.map((s) => s.url)).toEqual(['/whoami?n=1', '/whoami?n=2', '/whoami?n=3']);
    expect(new Set(seen.map((s) => s.remotePort)).size).toBe(1);
    const ids = new Set(seen.map((s) => pick(s.rawHeaders, 'x-access-session')[0]));
    expect(ids.size).toBe(1);
    keepAliveSession = [...ids][0] as string;
  });

  it('streams a large upload with curl (chunked) and the download back, bytes intact', async () => {
    const body = randomBytes(6 * 1024 * 1024 + 17);
    const file = path.join(dir, 'upload.bin');
    await writeFile(file, body);
    const result = await run('curl', ['-sS', '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`, `${url}upload`]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  });

  it('forwards the start of a body before the client has sent the rest (no whole-body buffering)', async () => {
    const first = Buffer.alloc(256 * 1024, 1);
    const request = http.request(`${url}hold`, { method: 'POST', headers: { 'content-length': String(first.length * 2) }, agent: false });
    const answer = new Promise<http.IncomingMessage>((resolve, reject) => {
      request.once('response', resolve);
      request.once('error', reject);
    });
    request.write(first);
    // The app sees the first half while the second has not been written yet.
    await eventually('the app to receive the first half of the body', async () => (app.held === first.length ? true : undefined));
    request.end(first);
    const res = await answer;
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString()).bytes).toBe(first.length * 2);
  });

  it('runs CMD with ACCESS_URL: `access connect web -- sh -c curl …`', async () => {
    const result = await alice.run(['connect', 'web', '--', 'sh', '-c', 'curl -sS -H "X-Access-User: mallory" "$ACCESS_URL""whoami?from=exec"']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).headers['x-access-user']).toBe('alice@contoso.dev');
  });

  it('sends the Host the resource names (hostHeader) instead of the target address', async () => {
    await grant(alice, 'web-vhost', '1h');
    const result = await alice.run(['connect', 'web-vhost', '--', 'sh', '-c', 'curl -sS "$ACCESS_URL"whoami']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).headers.host).toBe('grafana.internal');
  });

  it('serves headless Chromium: a page with its script, a large POST and a WebSocket, all as alice', async (ctx) => {
    const missing = chromiumMissing();
    if (missing) {
      console.log(`skipped: ${missing}`);
      ctx.skip();
    }
    const chromium = await Chromium.launch();
    try {
      const page = await chromium.open(url);
      await page.waitFor("window.seen && document.getElementById('who').textContent === 'alice@contoso.dev'");
      // The script's own forged header never reached the app.
      expect(await page.evaluate<string>("window.seen.headers['x-access-user']")).toBe('alice@contoso.dev');
      const upload = await page.evaluate<{ ok: boolean; mine: string; bytes: number }>(`(async () => {
        const data = new Uint8Array(8 * 1024 * 1024);
        for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
        const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', data))].map((b) => b.toString(16).padStart(2, '0')).join('');
        const res = await fetch('/upload', { method: 'POST', body: new Blob([data]) });
        const seen = await res.json();
        return { ok: seen.sha256 === digest, mine: digest, bytes: seen.bytes };
      })()`);
      expect(upload).toMatchObject({ ok: true, bytes: 8 * 1024 * 1024 });
      const ws = await page.evaluate<{ hello: { user: string; token: boolean }; echo: string }>(`new Promise((resolve, reject) => {
        const ws = new WebSocket('ws://' + location.host + '/ws');
        let hello = null;
        ws.onmessage = (event) => {
          if (hello === null) { hello = JSON.parse(event.data); ws.send('ping through the tunnel'); return; }
          resolve({ hello, echo: event.data });
          ws.close();
        };
        ws.onerror = () => reject(new Error('websocket failed'));
      })`);
      expect(ws).toEqual({ hello: { user: 'alice@contoso.dev', token: true }, echo: 'echo: ping through the tunnel' });
    } finally {
      await chromium.close();
    }
  }, 120_000);

  it('records every request and its response in the session, and `access audit show` tells them in words', async () => {
    const id = keepAliveSession;
    // `access audit sessions` counts them in its QUERIES column.
    expect((await sessions('web')).find((s) => s.id === id)?.queries).toBe(3);
    const story = await storyWith(id, (s) => s.entries.some((e) => e.type === 'session.closed'));
    const types = story.entries.map((e) => e.type);
    expect(types.indexOf('session.opened')).toBeLessThan(types.indexOf('http.request'));
    expect(types.at(-1)).toBe('session.closed');
    const requests = story.entries.filter((e) => e.type === 'http.request');
    const responses = story.entries.filter((e) => e.type === 'http.response');
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.map((r) => r.body.path)).toEqual(['/whoami?n=1', '/whoami?n=2', '/whoami?n=3']);
    expect(responses.length).toBe(requests.length);
    // Each request is written before its response.
    for (const response of responses) {
      const request = requests.find((r) => r.body.n === response.body.n);
      expect(request && request.seq < response.seq).toBe(true);
      expect(response.body).toMatchObject({ status: expect.any(Number), outcome: 'complete' });
    }
    const show = await dave.run(['audit', 'show', id]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout, show.stdout).toMatch(/http\.request\s.*GET \/whoami\?n=2\n/);
    expect(show.stdout, show.stdout).toMatch(/http\.response\s.*GET \/whoami\?n=2 → 200: ↑0 B ↓\d.* in \d+ ms\n/);

    // The browser's upload and WebSocket are in their sessions too (made by the Chromium test, which skips without Chromium).
    if (chromiumMissing()) return;
    const all = await sessions('web');
    const stories = await Promise.all(all.map((s) => api.get<AuditShowResponse>(daveToken, `/v1/audit/show/${encodeURIComponent(s.id)}`)));
    const bodies = stories.flatMap((s) => s.entries).map((e) => ({ type: e.type, ...e.body }));
    expect(bodies).toContainEqual(expect.objectContaining({ type: 'http.response', method: 'POST', path: '/upload', status: 200, bytesUp: 8 * 1024 * 1024 }));
    expect(bodies).toContainEqual(expect.objectContaining({ type: 'http.request', method: 'GET', path: '/ws', upgrade: 'websocket' }));
    expect(bodies).toContainEqual(expect.objectContaining({ type: 'http.response', path: '/ws', status: 101, outcome: 'complete' }));
  });

  it('cuts a live keep-alive connection in the middle of a streaming response within moments of a revoke', async () => {
    const view = await grant(alice, 'web', '1h');
    const listening = await startListener(alice, 'web');
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = (pathname: string): Promise<http.IncomingMessage> =>
        new Promise((resolve, reject) => http.get(`http://127.0.0.1:${listening.port}${pathname}`, { agent }, resolve).once('error', reject));
      const first = await get('/whoami?before-revoke');
      first.resume();
      await once(first, 'end');
      const streaming = await get('/stream');
      const socket = streaming.socket;
      await once(streaming, 'data');
      const closed = once(socket, 'close');
      const closedBefore = app.streamsClosed;
      const revoke = await bob.run(['revoke', view.id, '--reason', 'INC-16 done']);
      expect(revoke.code, revoke.stderr).toBe(0);
      const revokedAt = Date.now();
      await closed;
      expect(Date.now() - revokedAt).toBeLessThan(REVOKE_CUT_MS);
      // The app's streaming response ended with it: the broker dropped the upstream request too.
      await eventually('the app to see its stream closed', async () => (app.streamsClosed > closedBefore ? true : undefined));
      agent.destroy();
      const session = await api.closedSession(daveToken, 'web', (s) => s.requestId === view.id);
      expect(session.endReason).toBe('grantRevoked');
      const story = await storyWith(session.id, (s) => s.entries.some((e) => e.type === 'session.closed'));
      expect(story.entries.map((e) => ({ type: e.type, ...e.body }))).toContainEqual(
        expect.objectContaining({ type: 'http.response', path: '/stream', status: 200, outcome: 'connectionClosed' }),
      );
    } finally {
      await stopListener(listening);
    }
  });
});

/** The values of header `name` (lower case) in a raw header list, in order. */
function pick(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]?.toLowerCase() === name) out.push(raw[i + 1] as string);
  return out;
}
