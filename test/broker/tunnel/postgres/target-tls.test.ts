// TLS from the broker to a Postgres server, against stand-in servers on port 0 that speak the
// SSLRequest exchange: what is written afterwards arrives inside TLS, certificates are checked for
// verify-full only, and every failure is target_tls_failed naming the cause.

import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourcePolicy } from '../../../../broker/config/types.js';
import { secureTarget } from '../../../../broker/tunnel/postgres/target-tls.js';
import { AccessError } from '../../../../shared/errors.js';
import { tempDir } from '../../../helpers/processes.js';
import { createSelfSigned, createTestCa, type TestCa, type TestCertificate } from '../../../helpers/test-ca.js';
import { sslRequest } from './frontend.js';

/** What the stand-in does after reading the 8-byte SSLRequest. */
type Behaviour = { tls: TestCertificate } | { answer: Buffer } | 'silent';

interface StandIn {
  port: number;
  /** What arrived inside TLS, and whether the first 8 bytes were an SSLRequest. */
  received: Promise<{ sslRequest: boolean; data: Buffer }>;
  close(): Promise<void>;
}

async function standIn(behaviour: Behaviour): Promise<StandIn> {
  const sockets: net.Socket[] = [];
  let resolveReceived!: (value: { sslRequest: boolean; data: Buffer }) => void;
  const received = new Promise<{ sslRequest: boolean; data: Buffer }>((resolve) => (resolveReceived = resolve));
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.once('readable', () => {
      const first = socket.read(8) as Buffer | null;
      const isRequest = first?.equals(sslRequest()) ?? false;
      if (behaviour === 'silent') return;
      if ('answer' in behaviour) {
        socket.write(behaviour.answer);
        return;
      }
      socket.write('S');
      const secure = new tls.TLSSocket(socket, { isServer: true, cert: behaviour.tls.cert, key: behaviour.tls.key });
      secure.on('error', () => undefined);
      secure.once('data', (data: Buffer) => resolveReceived({ sslRequest: isRequest, data }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function policy(port: number, over: Partial<ResourcePolicy> = {}): Pick<ResourcePolicy, 'name' | 'target' | 'targetTls' | 'targetCa'> {
  return { name: 'prod-db', target: { host: '127.0.0.1', port }, targetTls: 'require', targetCa: null, ...over };
}

async function dial(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

async function refusal(server: StandIn, over: Partial<ResourcePolicy>, timeoutMs = 10_000): Promise<AccessError> {
  const socket = await dial(server.port);
  const error = await secureTarget(socket, policy(server.port, over), { timeoutMs, signal: new AbortController().signal }).then(
    () => {
      throw new Error('TLS was set up');
    },
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(AccessError);
  expect(socket.destroyed).toBe(true);
  return error as AccessError;
}

let ca: TestCa;
let otherCa: TestCa;
let issued: TestCertificate;
let selfSigned: TestCertificate;

beforeAll(async () => {
  const dir = await tempDir('target-tls');
  ca = await createTestCa(dir, 'db-ca');
  otherCa = await createTestCa(dir, 'other-ca');
  issued = await ca.issue('db', { dns: ['db.test'], ips: ['127.0.0.1'] });
  selfSigned = await createSelfSigned(dir);
});

const open: StandIn[] = [];
afterAll(async () => {
  await Promise.all(open.map((server) => server.close()));
});

async function server(behaviour: Behaviour): Promise<StandIn> {
  const started = await standIn(behaviour);
  open.push(started);
  return started;
}

describe('secureTarget', () => {
  it('returns the dialled socket itself for targetTls: disable, having sent nothing', async () => {
    const silent = await server('silent');
    const socket = await dial(silent.port);
    const result = await secureTarget(socket, policy(silent.port, { targetTls: 'disable' }), { timeoutMs: 1000, signal: new AbortController().signal });
    expect(result).toBe(socket);
    expect(socket.bytesWritten).toBe(0);
    socket.destroy();
  });

  it('require: asks with SSLRequest, and what is written next arrives inside TLS, even from a self-signed server', async () => {
    const db = await server({ tls: selfSigned });
    const secure = await secureTarget(await dial(db.port), policy(db.port), { timeoutMs: 10_000, signal: new AbortController().signal });
    expect(secure).toBeInstanceOf(tls.TLSSocket);
    secure.write('startup message');
    expect(await db.received).toEqual({ sslRequest: true, data: Buffer.from('startup message') });
    secure.destroy();
  });

  it('verify-full: accepts a certificate for the target host issued by targetCa', async () => {
    const db = await server({ tls: issued });
    const secure = await secureTarget(await dial(db.port), policy(db.port, { targetTls: 'verify-full', targetCa: { file: ca.certFile, pem: ca.cert } }), {
      timeoutMs: 10_000,
      signal: new AbortController().signal,
    });
    expect((secure as tls.TLSSocket).authorized).toBe(true);
    secure.destroy();
  });

  it('verify-full: refuses a certificate from another CA, naming the CA file it was checked against', async () => {
    const db = await server({ tls: issued });
    const error = await refusal(db, { targetTls: 'verify-full', targetCa: { file: otherCa.certFile, pem: otherCa.cert } });
    expect(error).toMatchObject({ code: 'target_tls_failed', status: 502 });
    expect(error.message).toContain(`does not verify against the CA in ${otherCa.certFile}`);
    expect(error.message).toContain(`prod-db's target 127.0.0.1:${db.port}`);
  });

  it('verify-full: refuses a certificate for another host name', async () => {
    const elsewhere = await ca.issue('elsewhere', { dns: ['elsewhere.test'], ips: [] });
    const db = await server({ tls: elsewhere });
    const error = await refusal(db, { targetTls: 'verify-full', targetCa: { file: ca.certFile, pem: ca.cert } });
    expect(error.message).toContain('its certificate is not for 127.0.0.1');
  });

  it("verify-full without targetCa: refuses a private CA, checked against the system's trusted CAs", async () => {
    const db = await server({ tls: issued });
    expect((await refusal(db, { targetTls: 'verify-full' })).message).toContain("does not verify against the system's trusted CAs");
  });

  it('refuses a database that answers N: it does not support SSL', async () => {
    const db = await server({ answer: Buffer.from('N') });
    const error = await refusal(db, {});
    expect(error.message).toMatch(
      /^The broker cannot set up TLS \(targetTls: require\) to prod-db's target 127\.0\.0\.1:\d+: the database answered that it does not support SSL\./,
    );
  });

  it('refuses unencrypted bytes sent after the S', async () => {
    const db = await server({ answer: Buffer.from('Sinjected') });
    expect((await refusal(db, {})).message).toContain('sent unencrypted bytes after accepting SSL');
  });

  it('refuses an answer that is not Postgres', async () => {
    const db = await server({ answer: Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n') });
    expect((await refusal(db, {})).message).toContain("answered the SSLRequest with byte 0x48 instead of 'S' or 'N' (is it a PostgreSQL server?)");
  });

  it('gives up on a database that never answers, after the timeout', async () => {
    const db = await server('silent');
    expect((await refusal(db, {}, 200)).message).toContain('no TLS within 200ms');
  });

  it('gives up on a database that accepts SSL and then never starts the handshake, after the timeout', async () => {
    const db = await server({ answer: Buffer.from('S') });
    expect((await refusal(db, {}, 200)).message).toContain('no TLS within 200ms');
  });

  it('gives up when the client goes away meanwhile', async () => {
    const db = await server('silent');
    const socket = await dial(db.port);
    const abandoned = new AbortController();
    const pending = secureTarget(socket, policy(db.port), { timeoutMs: 10_000, signal: abandoned.signal });
    abandoned.abort();
    await expect(pending).rejects.toMatchObject({ code: 'target_tls_failed', message: expect.stringContaining('the client went away') });
  });
});
