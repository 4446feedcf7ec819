// A tiny TCP load balancer for tests: every accepted connection goes to the next backend in turn,
// with no health checks, like a balancer that has not yet noticed a backend died. A backend that
// refuses the connection gets the client's connection reset (what a TCP balancer does), so the
// client sees ECONNRESET rather than a clean refusal.

import net, { type AddressInfo } from 'node:net';

export interface RoundRobin {
  url: string;
  /** The backend port each accepted connection was sent to, in order. */
  readonly routed: number[];
  close(): Promise<void>;
}

export async function startRoundRobin(backendPorts: readonly number[]): Promise<RoundRobin> {
  const routed: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    const port = backendPorts[routed.length % backendPorts.length] as number;
    routed.push(port);
    const backend = net.connect({ host: '127.0.0.1', port });
    for (const socket of [client, backend]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('error', () => backend.destroy());
    backend.on('error', () => client.resetAndDestroy());
    backend.on('connect', () => {
      client.pipe(backend);
      backend.pipe(client);
      client.resume();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    routed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
