// The local end of one MySQL/MariaDB client connection (mysql resources): the relay's bytes pass
// through the handshake rewriting of mysql-local-tls.ts, which offers the client TLS and, when it
// asks, has this module switch the client's socket to TLS with the local certificate (local-tls.ts).
// After the handshake the rewriting passes every chunk on as it is.

import type net from 'node:net';
import { Readable, Writable } from 'node:stream';
import type tls from 'node:tls';
import { FLUSH_GRACE_MS, type LocalEnd } from './relay.js';
import { type LocalTls, serverTls } from './local-tls.js';
import { MysqlHandshakeError, MysqlTlsOffer } from './mysql-local-tls.js';

/** The client's socket (paused, as the listener accepted it) as a LocalEnd that offers TLS. */
export function mysqlLocalEnd(socket: net.Socket, local: LocalTls): LocalEnd {
  const offer = new MysqlTlsOffer();
  let client: net.Socket | tls.TLSSocket = socket;

  const up = new Readable({
    read: () => {
      client.resume();
    },
    destroy: (error, callback) => {
      // An ending socket flushes its last words (an ERR) first; finish() destroys it after a grace period.
      if (!client.writableEnded) client.destroy();
      callback(error);
    },
  });
  const down = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      const out = offer.down(chunk);
      if (out.length === 0 || client.write(out)) callback();
      else client.once('drain', () => callback());
    },
    // Finished once the client's socket has flushed what the broker sent last.
    final: (callback) => {
      client.end(() => callback());
    },
  });

  const onData = (chunk: Buffer): void => {
    let result: ReturnType<MysqlTlsOffer['up']>;
    try {
      result = offer.up(chunk);
    } catch (error) {
      // The client hears why when it can show it (an ERR inside its handshake), then the connection ends.
      if (error instanceof MysqlHandshakeError && error.answer) client.end(error.answer);
      up.destroy(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (result.forward.length > 0 && !up.push(result.forward)) client.pause();
    if (result.startTls) startTls(result.startTls.rest);
  };
  const onEnd = (): void => {
    up.push(null);
  };
  const onClose = (): void => {
    if (!up.destroyed) up.destroy();
  };
  const onError = (error: Error): void => {
    up.destroy(error);
  };
  const listen = (stream: net.Socket): void => {
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onClose);
    stream.on('error', onError);
  };
  const startTls = (rest: Buffer): void => {
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onClose);
    socket.off('error', onError);
    socket.pause();
    // Anything after the SSLRequest is the client's TLS already.
    if (rest.length > 0) socket.unshift(rest);
    client = serverTls(socket, local, []);
    listen(client);
  };

  listen(socket);
  return {
    readable: up,
    writable: down,
    finish: () => {
      down.end(() => client.destroy());
      // A client that never reads the rest must not keep its socket (and our memory) forever.
      setTimeout(() => client.destroy(), FLUSH_GRACE_MS).unref();
    },
  };
}
