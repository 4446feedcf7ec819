import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { eventsUrl, openEventStream, type EventStream, type StreamItem } from '../../cli/events-client.js';
import type { EventMessage } from '../../shared/wire.js';
import { approvedView } from './commands/fakes.js';

/**
 * A stand-in for the broker's /v1/events: authenticates in the upgrade handler (refusing with a
 * plain HTTP answer when `refuse` says so), says hello, and lets the test push and drop sockets.
 */
class FakeEventsBroker {
  readonly server = http.createServer((_req, res) => res.writeHead(404).end());
  readonly wss: WebSocketServer;
  readonly sockets: WebSocket[] = [];
  readonly tokens: string[] = [];
  refuse: { status: number; body: unknown } | null = null;
  sayHello = true;

  /** `autoPong: false` plays a broker that stopped answering (a half-open connection). */
  constructor(options: { autoPong?: boolean } = {}) {
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, autoPong: options.autoPong ?? true });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      this.tokens.push(req.headers.authorization ?? '');
      if (this.refuse) {
        const body = JSON.stringify(this.refuse.body);
        socket.end(
          `HTTP/1.1 ${this.refuse.status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.sockets.push(ws);
        if (this.sayHello) ws.send(JSON.stringify({ type: 'hello', oid: 'oid-alice', upn: 'alice@contoso.com' } satisfies EventMessage));
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  push(message: EventMessage): void {
    this.sockets.at(-1)?.send(JSON.stringify(message));
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let broker: FakeEventsBroker | undefined;
let stream: EventStream | undefined;

afterEach(async () => {
  stream?.close();
  stream = undefined;
  await broker?.close();
  broker = undefined;
});

async function open(options: { token?: () => Promise<string>; keepaliveMs?: number } = {}): Promise<EventStream> {
  broker ??= new FakeEventsBroker();
  const url = eventsUrl(await broker.listen());
  let n = 0;
  stream = await openEventStream({
    url,
    token: options.token ?? (async () => `token-${++n}`),
    reconnect: { initialMs: 20, maxMs: 100 },
    ...(options.keepaliveMs ? { keepaliveMs: options.keepaliveMs } : {}),
  });
  return stream;
}

function fake(): FakeEventsBroker {
  if (!broker) throw new Error('open() first');
  return broker;
}

/** Reads `count` items without ending the stream (a `break` out of for-await would close it). */
async function take(s: EventStream, count: number): Promise<StreamItem[]> {
  const iterator = s[Symbol.asyncIterator]();
  const items: StreamItem[] = [];
  while (items.length < count) {
    const next = await iterator.next();
    if (next.done) break;
    items.push(next.value);
  }
  return items;
}

describe('eventsUrl', () => {
  it('turns http into ws and https into wss', () => {
    expect(eventsUrl('http://127.0.0.1:4780')).toBe('ws://127.0.0.1:4780/v1/events');
    expect(eventsUrl('https://access.example.com/')).toBe('wss://access.example.com/v1/events');
    expect(eventsUrl('https://corp.example.com/access')).toBe('wss://corp.example.com/access/v1/events');
  });
});

describe('openEventStream', () => {
  it('sends the bearer token in the upgrade and starts with the hello', async () => {
    const s = await open();
    expect(fake().tokens).toEqual(['Bearer token-1']);
    fake().push({ type: 'request', change: 'approved', request: approvedView() });
    const [hello, event] = await take(s, 2);
    expect(hello).toEqual({ type: 'hello', oid: 'oid-alice', upn: 'alice@contoso.com' });
    expect(event).toMatchObject({ type: 'request', change: 'approved', request: { id: 'r7f3c0a1b2' } });
  });

  it("rejects with the broker's own error when the upgrade is refused", async () => {
    broker = new FakeEventsBroker();
    broker.refuse = { status: 401, body: { code: 'token_expired', message: 'the token expired at 12:00 — run `access login`' } };
    await expect(open()).rejects.toMatchObject({ code: 'token_expired', message: 'the token expired at 12:00 — run `access login`' });
  });

  it('names a broker without an events stream (HTTP 404 without a JSON body)', async () => {
    broker = new FakeEventsBroker();
    broker.refuse = { status: 404, body: 'nope' };
    await expect(open()).rejects.toMatchObject({ code: 'broker_response_invalid', message: expect.stringContaining('HTTP 404') as unknown });
  });

  it('says the broker is unreachable when nothing listens', async () => {
    const gone = new FakeEventsBroker();
    const url = await gone.listen();
    await gone.close();
    await expect(openEventStream({ url: eventsUrl(url), token: async () => 't' })).rejects.toMatchObject({ code: 'broker_unreachable' });
  });

  it('reconnects with a fresh token after the socket drops, and says so', async () => {
    const s = await open();
    fake().sockets[0]?.terminate();
    const items = await take(s, 4);
    expect(items.map((i) => i.type)).toEqual(['hello', 'disconnected', 'hello', 'reconnected']);
    expect(fake().tokens).toEqual(['Bearer token-1', 'Bearer token-2']);
    fake().push({ type: 'request', change: 'denied', request: approvedView({ state: 'denied' }) });
    const [after] = await take(s, 1);
    expect(after).toMatchObject({ type: 'request', change: 'denied' });
  });

  it('reconnects at once when the broker ends the stream because its token expired', async () => {
    const s = await open();
    fake().sockets[0]?.close(4001, 'token expired');
    const [, gap] = await take(s, 4);
    expect(gap).toEqual({ type: 'disconnected', reason: 'the access token expired (close code 4001)', retryInMs: 0 });
    expect(fake().tokens).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('drops a socket whose broker stopped answering pings, and reconnects', async () => {
    broker = new FakeEventsBroker({ autoPong: false });
    const s = await open({ keepaliveMs: 20 });
    const items = await take(s, 4);
    expect(items.map((i) => i.type)).toEqual(['hello', 'disconnected', 'hello', 'reconnected']);
  });

  it('keeps retrying while the broker refuses for a server reason and gives up on a sign-in refusal', async () => {
    const s = await open();
    fake().refuse = { status: 503, body: { code: 'directory_unavailable', message: 'Graph is down' } };
    fake().sockets[0]?.terminate();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const item of s) seen.push(item.type);
    })();
    await vi.waitFor(() => expect(fake().tokens.length).toBeGreaterThanOrEqual(3));
    fake().refuse = { status: 401, body: { code: 'token_expired', message: 'expired' } };
    await expect(reading).rejects.toMatchObject({ code: 'token_expired' });
    expect(seen[0]).toBe('hello');
    expect(seen.slice(1).every((type) => type === 'disconnected')).toBe(true);
    expect(seen.length).toBeGreaterThanOrEqual(3);
  });

  it('ends iteration on close() and does not reconnect', async () => {
    const s = await open();
    const all = (async () => {
      const items: StreamItem[] = [];
      for await (const item of s) items.push(item);
      return items;
    })();
    s.close();
    expect((await all).map((i) => i.type)).toEqual(['hello']);
    expect(fake().tokens).toHaveLength(1);
  });

  it('skips messages that are not events instead of failing', async () => {
    const s = await open();
    fake().sockets[0]?.send('not json');
    fake().sockets[0]?.send(JSON.stringify({ type: 'from-the-future' }));
    fake().push({ type: 'expiring', request: approvedView(), inMs: 60_000 });
    const items = await take(s, 2);
    expect(items.map((i) => i.type)).toEqual(['hello', 'expiring']);
  });
});
