// The demo's plain TCP target: a line-based "status" service on loopback. It greets each
// connection and answers every line, which is all `nc` through `access connect demo-echo` needs
// to show a TCP tunnel carrying bytes both ways.

import net from 'node:net';
import type { DemoTarget } from './types.js';

export const DEMO_TCP_HOST = '127.0.0.1';
/** Longest line answered; a client sending more without a newline is cut off, not buffered forever. */
export const MAX_LINE_BYTES = 4096;

export const GREETING = 'access demo status service: type a line, get it back (quit to leave)';

export function startDemoTcpService(options: { port?: number } = {}): Promise<DemoTarget> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A client that resets the connection is routine here, not an error worth crashing for.
    socket.on('error', () => socket.destroy());
    serve(socket);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, DEMO_TCP_HOST, () => {
      server.off('error', reject);
      const { port } = server.address() as net.AddressInfo;
      let stopped: Promise<void> | null = null;
      resolve({
        name: 'demo-echo',
        host: DEMO_TCP_HOST,
        port,
        stop: () => {
          stopped ??= new Promise<void>((done) => {
            server.close(() => done());
            for (const socket of sockets) socket.destroy();
          });
          return stopped;
        },
      });
    });
  });
}

function serve(socket: net.Socket): void {
  socket.write(`${GREETING}\n`);
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    // After "quit" the client may still be sending; nothing more is answered.
    if (socket.writableEnded) return;
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline).replace(/\r$/, '');
      pending = pending.slice(newline + 1);
      if (line.trim() === 'quit') {
        socket.end('bye\n');
        return;
      }
      socket.write(`${answer(line)}\n`);
      newline = pending.indexOf('\n');
    }
    if (Buffer.byteLength(pending) > MAX_LINE_BYTES) {
      socket.end(`line longer than ${MAX_LINE_BYTES} bytes, closing\n`);
    }
  });
}

function answer(line: string): string {
  if (line.trim() === 'status') return `ok ${new Date().toISOString()}`;
  return `echo: ${line}`;
}
