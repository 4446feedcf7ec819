// `GET /v1/events`: the WebSocket stream of request changes (shared/wire.ts EventMessage).
// The bearer token has been checked by the upgrade router before this runs; here the caller's
// groups are read (a directory outage refuses the upgrade with 503, failing closed), the socket
// is subscribed to the hub, and a keepalive drops peers that stopped answering.

import type { IncomingMessage } from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';
import { CLOSE_REASONS, CloseCode } from '../../shared/close-codes.js';
import { AccessError } from '../../shared/errors.js';
import { MAX_EVENT_STREAMS_PER_USER } from '../../shared/limits.js';
import type { EventMessage, GroupRef } from '../../shared/wire.js';
import type { Logger } from '../log.js';
import type { Principal } from '../auth/principal.js';
import { callerGroups, type Directory } from '../identity/directory.js';
import { OpenCounter } from '../http/rate-limit.js';
import type { UpgradeContext, UpgradeRoute } from '../http/upgrade.js';
import type { EventHub, Subscription } from './hub.js';

export const EVENTS_PATH = '/v1/events';
/**
 * Keepalive: a ping every 30 s keeps idle proxies and load balancers (commonly 60 s idle
 * timeouts) from cutting the stream, and a peer that missed one pong is dropped within a minute.
 */
export const DEFAULT_PING_INTERVAL_MS = 30_000;
/**
 * Groups of a connected subscriber are re-read this often, so someone removed from an approver
 * group stops seeing that resource's pending requests within minutes (reviews themselves are
 * always checked against Graph at the moment of review).
 */
export const GROUP_REFRESH_INTERVAL_MS = 5 * 60_000;
/** Clients send nothing but control frames; anything larger than this is not a client of ours. */
export const MAX_CLIENT_MESSAGE_BYTES = 4 * 1024;
/**
 * A reader this far behind is dropped rather than buffered without bound; it reconnects and
 * catches up with `GET /v1/requests`.
 */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/** On shutdown, peers get this long to answer the close frame before their sockets are cut. */
export const CLOSE_GRACE_MS = 1_000;
/** setTimeout's largest delay (about 24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface EventsEndpointOptions {
  hub: EventHub;
  directory: Directory;
  log: Logger;
  now: () => number;
  /** Default DEFAULT_PING_INTERVAL_MS (30 s). */
  pingIntervalMs?: number;
  /** Streams one person may hold open at once. Default MAX_EVENT_STREAMS_PER_USER (shared/limits.ts). */
  maxStreamsPerUser?: number;
}

interface Client {
  ws: WebSocket;
  principal: Principal;
  subscription: Subscription;
  alive: boolean;
  groupsReadAt: number;
  expiry: NodeJS.Timeout | null;
}

export class EventsEndpoint implements UpgradeRoute {
  readonly path = EVENTS_PATH;
  readonly #options: EventsEndpointOptions;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_CLIENT_MESSAGE_BYTES });
  readonly #clients = new Set<Client>();
  /** Open streams (and upgrades in progress) per person, against maxStreamsPerUser. */
  readonly #perUser = new OpenCounter();
  readonly #keepalive: NodeJS.Timeout;

  constructor(options: EventsEndpointOptions) {
    this.#options = options;
    this.#keepalive = setInterval(() => this.#tick(), options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
    this.#keepalive.unref();
  }

  /** Open streams (for logs and tests). */
  get connections(): number {
    return this.#clients.size;
  }

  async handle(ctx: UpgradeContext, principal: Principal): Promise<void> {
    // Read before the upgrade so a directory outage is an HTTP 503, not an open stream that lies.
    const groups = await callerGroups(this.#options.directory, principal);
    if (ctx.socket.destroyed) return;
    const cap = this.#options.maxStreamsPerUser ?? MAX_EVENT_STREAMS_PER_USER;
    const open = this.#perUser.count(principal.oid);
    if (open >= cap) {
      throw new AccessError(
        'too_many_streams',
        `You already have ${open} event streams open, the most one person may hold (${cap}) — close an \`access watch\` or a waiting \`access request\` you no longer need.`,
      );
    }
    // Counted until the socket closes, whether the upgrade completes or not.
    ctx.socket.once('close', this.#perUser.open(principal.oid));
    this.#wss.handleUpgrade(ctx.req, ctx.socket, ctx.head, (ws: WebSocket, _req: IncomingMessage) => this.#connect(ws, principal, groups));
  }

  /** Closes every stream with "going away" and stops the keepalive. */
  async close(): Promise<void> {
    clearInterval(this.#keepalive);
    const open = [...this.#clients];
    await Promise.all(open.map((client) => this.#closeGracefully(client)));
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #connect(ws: WebSocket, principal: Principal, groups: readonly GroupRef[]): void {
    const { hub, now, log } = this.#options;
    const client: Client = {
      ws,
      principal,
      subscription: hub.subscribe({ oid: principal.oid, upn: principal.upn }, groups, (message) => this.#send(client, message)),
      alive: true,
      groupsReadAt: now(),
      expiry: null,
    };
    this.#clients.add(client);
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('error', (error) => log.warn('events stream error', { oid: principal.oid, error: error.message }));
    ws.on('close', () => {
      client.subscription.close();
      if (client.expiry) clearTimeout(client.expiry);
      this.#clients.delete(client);
    });
    // hello goes out after the subscription exists: whatever the client does next, it cannot miss.
    this.#send(client, { type: 'hello', oid: principal.oid, upn: principal.upn });
    this.#armExpiry(client);
  }

  #send(client: Client, message: EventMessage): void {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    if (client.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.#options.log.warn('events stream dropped: reader too far behind', { oid: client.principal.oid, buffered: client.ws.bufferedAmount });
      // A close frame would queue behind the backlog it is meant to end: cut the socket.
      client.ws.terminate();
      return;
    }
    client.ws.send(JSON.stringify(message));
  }

  /** The stream lives no longer than the token it was opened with; the client reconnects with a fresh one. */
  #armExpiry(client: Client): void {
    const remaining = client.principal.expiresAt.getTime() - this.#options.now();
    if (remaining <= 0) {
      client.ws.close(CloseCode.tokenExpired, CLOSE_REASONS[CloseCode.tokenExpired]);
      return;
    }
    client.expiry = setTimeout(() => this.#armExpiry(client), Math.min(remaining, MAX_TIMER_MS));
    client.expiry.unref();
  }

  #tick(): void {
    const now = this.#options.now();
    for (const client of this.#clients) {
      if (!client.alive) {
        this.#options.log.info('events stream dropped: no pong', { oid: client.principal.oid });
        client.ws.terminate();
        continue;
      }
      client.alive = false;
      client.ws.ping();
      if (now - client.groupsReadAt >= GROUP_REFRESH_INTERVAL_MS) this.#refreshGroups(client, now);
    }
  }

  #refreshGroups(client: Client, now: number): void {
    client.groupsReadAt = now;
    void callerGroups(this.#options.directory, client.principal).then(
      (groups) => client.subscription.setGroups(groups),
      (error: unknown) => {
        // Fail closed: without a current answer the stream keeps only the caller's own requests.
        client.subscription.setGroups([]);
        this.#options.log.warn('events stream: group re-read failed', {
          oid: client.principal.oid,
          error: error instanceof Error ? error.message : String(error),
        });
      },
    );
  }

  async #closeGracefully(client: Client): Promise<void> {
    if (client.ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const cut = setTimeout(() => client.ws.terminate(), CLOSE_GRACE_MS);
      client.ws.once('close', () => {
        clearTimeout(cut);
        resolve();
      });
      client.ws.close(CloseCode.goingAway, CLOSE_REASONS[CloseCode.goingAway]);
    });
  }
}
