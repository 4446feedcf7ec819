// The listener's local TLS for Postgres clients (cli/tunnel/local-tls.ts): a client's SSLRequest
// is answered 'S' by the CLI, TLS ends on the loopback, and the broker receives the plaintext;
// clients that do not ask get their bytes through unchanged. The certificate is kept in the state
// dir, private, reused, and renewed before it expires. Real sockets, a fake broker.

import { X509Certificate } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type WebSocket from 'ws';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TunnelListener } from '../../../cli/tunnel/listener.js';
import { LOCAL_CERT_VALIDITY_MS, LOCAL_TLS_DIR, loadLocalTls, type LocalTls } from '../../../cli/tunnel/local-tls.js';
import { tempDir } from '../../helpers/processes.js';
import { createTestCa } from '../../helpers/test-ca.js';
import { startFakeBroker, type FakeBroker } from './fake-broker.js';

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const GSSENC_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);
/** A StartupMessage (protocol 3.0, user alice): what the broker must receive in plaintext. */
const STARTUP = (() => {
  const body = Buffer.from('user\0alice\0\0');
  const header = Buffer.alloc(8);
  header.writeInt32BE(8 + body.length, 0);
  header.writeInt32BE(196608, 4);
  return Buffer.concat([header, body]);
})();

let home: string;
let local: LocalTls;
let broker: FakeBroker | null = null;
let listener: TunnelListener | null = null;
/** What the fake broker received on each tunnel, and the tunnel, to answer on. */
let received: Buffer[][] = [];
let sockets: WebSocket[] = [];

beforeAll(async () => {
  home = await tempDir('local-tls');
  local = await loadLocalTls(home, Date.now());
});

afterEach(async () => {
  await listener?.shutdown();
  listener = null;
  await broker?.stop();
  broker = null;
});

async function setup(): Promise<{ port: number; log: string[] }> {
  received = [];
  sockets = [];
  broker = await startFakeBroker({
    onTunnel: (ws) => {
      const chunks: Buffer[] = [];
      received.push(chunks);
      sockets.push(ws);
      ws.on('message', (data) => chunks.push(data as Buffer));
    },
  });
  const log: string[] = [];
  const b = broker;
  listener = await TunnelListener.listen({
    bind: '127.0.0.1',
    port: 0,
    open: () => b.open('demo-db'),
    subject: { name: 'demo-db', kind: 'postgres', expiresAt: null },
    log: (line) => log.push(line),
    logEveryConnection: false,
    now: Date.now,
    localTls: local,
  });
  return { port: listener.address.port, log };
}

/** Reads exactly `n` bytes from a plain socket. */
function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let have = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      have = Buffer.concat([have, chunk]);
      if (have.length < n) return;
      socket.off('data', onData);
      socket.pause();
      resolve(have);
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** TLS over `socket`, trusting `ca`, checking the name `servername`. */
function startTls(socket: net.Socket, ca: string, servername = 'localhost', alpn?: string[]): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ socket, ca, servername, ...(alpn ? { ALPNProtocols: alpn } : {}) }, () => resolve(secure));
    secure.once('error', reject);
  });
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
}

const ca = async (): Promise<string> => readFile(local.caFile, 'utf8');

describe('the local TLS of a postgres listener', () => {
  it("answers an SSLRequest with 'S', speaks TLS trusted by the local CA, and the broker gets the plaintext startup", async () => {
    const { port } = await setup();
    const socket = await connect(port);
    socket.write(SSL_REQUEST);
    expect((await readBytes(socket, 1)).toString()).toBe('S');
    const secure = await startTls(socket, await ca());
    secure.write(STARTUP);
    await until(() => Buffer.concat(received[0] ?? []).length >= STARTUP.length);
    // Neither the SSLRequest nor a byte of TLS reached the broker: only the plaintext startup.
    expect(Buffer.concat(received[0] ?? [])).toEqual(STARTUP);
    const answer = new Promise<string>((resolve) => secure.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    sockets[0]?.send(Buffer.from('R-ok'));
    expect(await answer).toBe('R-ok');
    secure.destroy();
  });

  it("answers a GSSENCRequest 'N', then the SSLRequest that follows 'S' (libpq's order)", async () => {
    const { port } = await setup();
    const socket = await connect(port);
    socket.write(GSSENC_REQUEST);
    expect((await readBytes(socket, 1)).toString()).toBe('N');
    socket.resume();
    socket.write(SSL_REQUEST);
    expect((await readBytes(socket, 1)).toString()).toBe('S');
    const secure = await startTls(socket, await ca(), '127.0.0.1');
    secure.write(STARTUP);
    await until(() => Buffer.concat(received[0] ?? []).length >= STARTUP.length);
    expect(Buffer.concat(received[0] ?? [])).toEqual(STARTUP);
    secure.destroy();
  });

  it('gives TLS to a client that starts it directly (PostgreSQL 17 sslnegotiation=direct, ALPN postgresql)', async () => {
    const { port } = await setup();
    const secure = await startTls(await connect(port), await ca(), 'localhost', ['postgresql']);
    expect(secure.alpnProtocol).toBe('postgresql');
    secure.write(STARTUP);
    await until(() => Buffer.concat(received[0] ?? []).length >= STARTUP.length);
    expect(Buffer.concat(received[0] ?? [])).toEqual(STARTUP);
    secure.destroy();
  });

  it('passes the bytes of a client that asks for no TLS through unchanged', async () => {
    const { port } = await setup();
    const socket = await connect(port);
    socket.write(STARTUP);
    await until(() => Buffer.concat(received[0] ?? []).length >= STARTUP.length);
    expect(Buffer.concat(received[0] ?? [])).toEqual(STARTUP);
    socket.destroy();
  });

  it('is refused by a client that trusts another CA (verify-full checks something)', async () => {
    const { port } = await setup();
    const other = await createTestCa(await tempDir('local-tls-other'), 'other');
    const socket = await connect(port);
    socket.write(SSL_REQUEST);
    await readBytes(socket, 1);
    await expect(startTls(socket, other.cert)).rejects.toThrow(/self.signed|unable to verify|certificate/i);
  });

  it('still ends at once when the broker closes the tunnel while the client has said nothing (a revoke)', async () => {
    const { port } = await setup();
    const socket = await connect(port);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.resume();
    await until(() => sockets.length === 1);
    broker?.closeAll(4111, 'revoked by bob@contoso.dev: done');
    await closed;
    expect(await listener?.ended).toEqual({
      kind: 'grant',
      close: { code: 4111, reason: 'revoked by bob@contoso.dev: done', endedBy: 'broker', bytesUp: 0, bytesDown: 0 },
    });
  });
});

describe('loadLocalTls', () => {
  it('keeps the certificate private in the state dir: 0700 directory, 0600 files, the CA key not kept', async () => {
    const dir = path.join(home, LOCAL_TLS_DIR);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const name of await readdir(dir)) expect((await stat(path.join(dir, name))).mode & 0o777).toBe(0o600);
    const bundle = JSON.parse(await readFile(path.join(dir, 'postgres.json'), 'utf8')) as Record<string, string>;
    expect(Object.keys(bundle).sort()).toEqual(['ca', 'cert', 'key']);
    const leaf = new X509Certificate(bundle.cert ?? '');
    expect(leaf.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(leaf.checkIssued(new X509Certificate(bundle.ca ?? ''))).toBe(true);
  });

  it('reuses the certificate on the next run, and renews it when less than a week is left', async () => {
    expect((await loadLocalTls(home, Date.now())).caFile).toBe(local.caFile);
    const nearTheEnd = Date.now() + LOCAL_CERT_VALIDITY_MS - 3 * 86_400_000;
    const renewed = await loadLocalTls(home, nearTheEnd);
    expect(renewed.caFile).not.toBe(local.caFile);
    expect((await loadLocalTls(home, nearTheEnd)).caFile).toBe(renewed.caFile);
  });
});
