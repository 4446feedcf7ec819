// A TLS front for PostgreSQL, for tests of `targetTls`: answers the broker's SSLRequest with 'S',
// terminates TLS with the given certificate, and relays in plaintext to a PostgreSQL server.

import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { TestCertificate } from './test-ca.js';

/** A TLS front: answers SSLRequest with 'S', terminates TLS, relays to `upstreamAt` in plaintext. */
export interface TlsFront {
  port: number;
  /** TLS handshakes completed (each a tunnel's broker → database leg). */
  handshakes: number;
  close(): Promise<void>;
}

export async function startTlsFront(certificate: TestCertificate, upstreamAt: { host: string; port: number }): Promise<TlsFront> {
  const sockets = new Set<net.Socket>();
  const front: TlsFront = { port: 0, handshakes: 0, close: () => Promise.resolve() };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const onReadable = (): void => {
      const request = socket.read(8) as Buffer | null;
      if (request === null) return;
      socket.off('readable', onReadable);
      socket.write('S');
      const secure = new tls.TLSSocket(socket, { isServer: true, cert: certificate.cert, key: certificate.key });
      secure.on('error', () => undefined);
      secure.once('secure', () => {
        front.handshakes++;
        const upstream = net.connect(upstreamAt);
        upstream.on('error', () => secure.destroy());
        secure.pipe(upstream).pipe(secure);
      });
    };
    socket.on('readable', onReadable);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  front.port = (server.address() as net.AddressInfo).port;
  front.close = () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return front;
}
