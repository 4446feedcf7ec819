// Targets on loopback for tunnel tests, started in the test process: an echo server, and a blob
// server that streams pseudo-random bytes to each client while hashing what the client sends, so
// a test can prove that every byte crossed the tunnel unchanged both ways (SHA-256 at each end).
//
// The tunnel has no half-close (a client's FIN closes the whole tunnel), so neither end of a blob
// exchange ends its side before it has received everything: both know the size in advance.

import { createCipheriv, createHash, type Cipher, type Hash } from 'node:crypto';
import net from 'node:net';

/** Bytes produced per write: a few socket reads' worth, so backpressure engages often. */
const CHUNK_BYTES = 256 * 1024;
const ZEROS = Buffer.alloc(CHUNK_BYTES);

/**
 * A deterministic pseudo-random byte stream (AES-128-CTR keystream of `seed`): unique everywhere,
 * so a duplicated, dropped or reordered chunk changes the hash, and cheap (~1 GB/s) to generate.
 */
export class Keystream {
  readonly #cipher: Cipher;

  constructor(seed: string) {
    const key = createHash('sha256').update(seed).digest().subarray(0, 16);
    this.#cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  }

  next(bytes: number): Buffer {
    return this.#cipher.update(bytes === CHUNK_BYTES ? ZEROS : ZEROS.subarray(0, bytes));
  }
}

/** Resolves on 'drain'; rejects when the socket closes first (the peer or the tunnel went away). */
function drained(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      socket.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      socket.off('drain', onDrain);
      reject(new Error('the socket closed while sending'));
    };
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

/** Writes `total` bytes of `stream` with backpressure, hashing them; resolves with the SHA-256 (hex). Never ends the socket. */
export async function sendStream(socket: net.Socket, stream: Keystream, total: number): Promise<string> {
  const hash = createHash('sha256');
  let sent = 0;
  while (sent < total) {
    const chunk = stream.next(Math.min(CHUNK_BYTES, total - sent));
    hash.update(chunk);
    sent += chunk.length;
    if (!socket.write(chunk)) await drained(socket);
  }
  return hash.digest('hex');
}

/** Hashes what arrives until `total` bytes came; rejects when the socket closes or sends more first. */
export function receiveStream(socket: net.Socket, total: number): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash: Hash = createHash('sha256');
    let bytes = 0;
    const onData = (chunk: Buffer): void => {
      hash.update(chunk);
      bytes += chunk.length;
      if (bytes > total) fail(new Error(`received ${bytes} bytes, more than the ${total} expected`));
      else if (bytes === total) {
        cleanUp();
        resolve({ sha256: hash.digest('hex'), bytes });
      }
    };
    const onClose = (): void => fail(new Error(`the socket closed after ${bytes} of ${total} bytes`));
    const cleanUp = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const fail = (error: Error): void => {
      cleanUp();
      reject(error);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

export interface LoopbackServer {
  port: number;
  close(): Promise<void>;
}

async function listen(server: net.Server): Promise<LoopbackServer> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Echoes every byte back on the same connection. */
export function startEchoServer(): Promise<LoopbackServer> {
  return listen(net.createServer((socket) => socket.pipe(socket)));
}

/** One blob exchange as the server saw it. */
export interface BlobExchange {
  /** SHA-256 of the bytes the server sent (what the client must have received). */
  sentSha256: string;
  /** SHA-256 and count of what the server received (what the client sent). */
  received: { sha256: string; bytes: number };
}

export interface BlobServer extends LoopbackServer {
  /** The exchanges of connections so far, in the order they completed. */
  exchanges: Promise<BlobExchange>[];
}

/**
 * On each connection: sends `bytesEachWay` bytes of Keystream(`seed`) and hashes what arrives
 * until as many bytes came; then waits for the client to close.
 */
export async function startBlobServer(bytesEachWay: number, seed: string): Promise<BlobServer> {
  const exchanges: Promise<BlobExchange>[] = [];
  const server = net.createServer((socket) => {
    const received = receiveStream(socket, bytesEachWay);
    const sent = sendStream(socket, new Keystream(seed), bytesEachWay);
    exchanges.push(Promise.all([sent, received]).then(([sentSha256, got]) => ({ sentSha256, received: got })));
  });
  return { ...(await listen(server)), exchanges };
}

/**
 * Connects to host:port over TCP with Nagle off. Errors after the connect (a reset when a tunnel is
 * refused or cut) show as 'close', which is what the tests watch.
 */
export function connectTcp(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Sends `text` and resolves with what came back once as many bytes arrived (an echo round trip). */
export function echoRoundTrip(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const want = Buffer.byteLength(text);
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length < want) return;
      cleanUp();
      resolve(got.toString('utf8'));
    };
    const onClose = (): void => {
      cleanUp();
      reject(new Error(`the connection closed after ${got.length} of ${want} echoed bytes`));
    };
    const cleanUp = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(text);
  });
}

/** Resolves once the socket has closed (the tunnel behind it was cut). */
export function closed(socket: net.Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Both ends of one blob exchange: what the client sent and received, and what the server did. */
export interface BlobResult {
  client: { sentSha256: string; received: { sha256: string; bytes: number } };
  server: BlobExchange;
}

/**
 * The client's side of a blob exchange with `server`, through host:port (a tunnel's local end):
 * sends `bytes` of Keystream(`seed`) while receiving as many, and closes once the server has all.
 */
export async function exchangeBlob(host: string, port: number, server: BlobServer, bytes: number, seed: string): Promise<BlobResult> {
  const index = server.exchanges.length;
  const socket = await connectTcp(host, port);
  const [sentSha256, received] = await Promise.all([sendStream(socket, new Keystream(seed), bytes), receiveStream(socket, bytes)]);
  // The server connected before its first byte reached us, so its exchange is listed by now.
  const exchange = server.exchanges[index];
  if (!exchange) throw new Error('the blob server saw no connection for this exchange');
  const serverSide = await exchange;
  // Closed only once the server has everything: the tunnel has no half-close.
  socket.end();
  return { client: { sentSha256, received }, server: serverSide };
}
