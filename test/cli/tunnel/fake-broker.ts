// A stand-in for the broker's `/v1/tunnel`, on real loopback sockets (port 0): its `upgrade`
// handler checks the bearer token and either refuses with an HTTP error `{code, message}` (before
// any WebSocket exists, like the real one) or accepts and relays to a target, by default a local
// TCP echo server. The test can close tunnels with a chosen code and reason.

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { ErrorCode } from '../../../shared/errors.js';
import { openTunnel, tunnelUrl } from '../../../cli/tunnel/tunnel-client.js';

export const GOOD_TOKEN = 'good-token';

export interface Refusal {
  status: number;
  code: ErrorCode;
  message: string;
}

export interface FakeBrokerOptions {
  /** Refuse the upgrade for this resource (checked after the token). Default: accept. */
  refuse?: (resource: string) => Refusal | null;
  /** Bytes the target sends as soon as it is dialled (an SSH banner). Default: none. */
  greeting?: Buffer;
  /** Replace the echo target: called with each accepted tunnel instead of relaying. */
  onTunnel?: (ws: WebSocket) => void;
}

export interface FakeBroker {
  url: string;
  /** Every accepted tunnel, in order, with the resource it was for. */
  tunnels: { ws: WebSocket; resource: string }[];
  /** Upgrade attempts seen (accepted or refused), with the bearer token presented. */
  attempts: { resource: string; token: string | null }[];
  /** Closes every open tunnel with `code` and `reason`, like the broker cutting a grant. */
  closeAll(code: number, reason: string): void;
  /** Opens a tunnel the way BrokerConnection.openTunnel does. */
  open(resource: string, token?: string): Promise<WebSocket>;
  stop(): Promise<void>;
}

async function listen(server: net.Server | http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function refuse(socket: import('node:stream').Duplex, refusal: Refusal): void {
  const body = JSON.stringify({ code: refusal.code, message: refusal.message });
  socket.end(
    `HTTP/1.1 ${refusal.status} ${http.STATUS_CODES[refusal.status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Relays one tunnel to a TCP target, simply (the CLI's relay is what is under test). */
function relayToTarget(ws: WebSocket, target: net.Socket, greeting: Buffer | undefined): void {
  target.setNoDelay(true);
  if (greeting) ws.send(greeting);
  target.on('data', (chunk: Buffer) => ws.send(chunk));
  ws.on('message', (data) => target.write(data as Buffer));
  target.on('end', () => ws.close(4100, 'target closed'));
  target.on('error', () => ws.close(4101, 'target failed'));
  ws.on('close', () => target.destroy());
}

export async function startFakeBroker(options: FakeBrokerOptions = {}): Promise<FakeBroker> {
  const echo = net.createServer((socket) => socket.pipe(socket));
  const echoPort = await listen(echo);
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const tunnels: FakeBroker['tunnels'] = [];
  const attempts: FakeBroker['attempts'] = [];
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const resource = url.searchParams.get('resource') ?? '';
    const auth = req.headers.authorization ?? null;
    const token = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : null;
    attempts.push({ resource, token });
    if (url.pathname !== '/v1/tunnel') return refuse(socket, { status: 404, code: 'not_found', message: `no route ${url.pathname}` });
    if (token !== GOOD_TOKEN) return refuse(socket, { status: 401, code: 'token_signature_invalid', message: 'the token signature does not verify' });
    const refusal = options.refuse?.(resource);
    if (refusal) return refuse(socket, refusal);
    wss.handleUpgrade(req, socket, head, (ws) => {
      tunnels.push({ ws, resource });
      if (options.onTunnel) return options.onTunnel(ws);
      relayToTarget(ws, net.connect(echoPort, '127.0.0.1'), options.greeting);
    });
  });
  const port = await listen(server);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    tunnels,
    attempts,
    closeAll(code, reason) {
      for (const { ws } of tunnels) if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
    },
    open: (resource, token = GOOD_TOKEN) => openTunnel({ url: tunnelUrl(url, resource), token: async () => token }),
    async stop() {
      for (const { ws } of tunnels) ws.terminate();
      server.closeAllConnections();
      await Promise.all([new Promise((resolve) => server.close(resolve)), new Promise((resolve) => echo.close(resolve))]);
    },
  };
}

export function sha256(data: Buffer | Buffer[]): string {
  const hash = createHash('sha256');
  for (const chunk of Array.isArray(data) ? data : [data]) hash.update(chunk);
  return hash.digest('hex');
}

export function randomData(bytes: number): Buffer {
  return randomBytes(bytes);
}

/** Connects to a local port, writes `data`, and resolves with the first `expect` bytes read back. */
export async function echoThrough(port: number, data: Buffer, expect = data.length): Promise<Buffer> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= expect) {
        socket.end();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.on('close', () => reject(new Error(`connection closed after ${got} of ${expect} bytes`)));
    socket.write(data);
  });
}
