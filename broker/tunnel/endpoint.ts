// `GET /v1/tunnel?resource=NAME`: the audited tunnel. The bearer token has been checked by the
// upgrade router; here, still on the plain HTTP request, the caller must hold a live grant on the
// resource and still be in its requester groups (read from Graph now), the resource must have a
// free connection slot, and the broker dials the target. Only then does the WebSocket open, so
// every refusal is an HTTP error with a code (shared/errors.ts), never an opened-then-closed socket.
//
// While open, a tunnel ends with a close code (shared/close-codes.ts) at its grant's absolute
// expiry, at once on a revoke, when a periodic membership re-check finds the user gone, after the
// resource's idle timeout, when the target ends or fails, and on broker shutdown. Every tunnel is
// a session row (store/session-store.ts) and one log line when it opens and one when it closes.
//
// Per resource kind (tunnel/protocol.ts), the target may be prepared after the dial (TLS to a
// Postgres server) and the client's first bytes handled before the plain relay (a Postgres
// SSLRequest answered by the broker); an observer (the Postgres or MySQL statement log) sees what
// the client sends, and what the server answers before the client does.
// A kind's target watch ends the session on the server too when the broker cuts it (a Postgres
// CancelRequest for the running query), or the query log does when it knows the server's session
// from the stream (MySQL: KILL QUERY on the greeting's connection id), logged and recorded in the
// session's audit trail.
// For the kinds the broker speaks itself (http, grpc: tunnel/http/gateway.ts), `serve` puts the
// broker's own HTTP server in the target's place: the relay is unchanged, and the server forwards
// each request to the dialled target, recording it first.

import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE_REASONS, CloseCode } from '../../shared/close-codes.js';
import { AccessError } from '../../shared/errors.js';
import { callerLimits } from '../../shared/limits.js';
import type { Logger } from '../log.js';
import type { Principal } from '../auth/principal.js';
import { formatTarget } from '../config/target.js';
import type { BrokerConfig, DatabaseCredential, ResourcePolicy } from '../config/types.js';
import { OpenCounter } from '../http/rate-limit.js';
import type { UpgradeContext, UpgradeRoute } from '../http/upgrade.js';
import type { Directory } from '../identity/directory.js';
import { randomRequestId, type IdGenerator } from '../requests/ids.js';
import { tunnelGroups } from '../requests/break-glass.js';
import type { AccessRequest, RequestChange } from '../requests/types.js';
import { actorName, actorOf } from '../requests/wording.js';
import type { LiveGrant } from '../store/request-store.js';
import type { NewSession, SessionRecord, SessionStore } from '../store/session-store.js';
import type { AuditAppender } from '../audit/audit-log.js';
import { refusalEntry } from '../audit/request-entries.js';
import { CONDITION_OF_CODE } from '../policy/conditions.js';
import { checkConditions } from '../policy/enforce.js';
import { admit, noLiveGrant, type Admission, type GrantLookup } from './admission.js';
import { conditionCut, expiredReason, revokedReason } from './close-reason.js';
import { dialTarget, TARGET_CONNECT_TIMEOUT_MS } from './dial.js';
import { GrantDeadlines } from './grant-deadlines.js';
import { MembershipRecheck, type RecheckedTunnel } from './membership-recheck.js';
import type { TargetWatch, TunnelObserver } from './protocol.js';
import { protocolFor, relayedAsPlainBytes } from './protocols.js';
import { closeCodeName, Relay, type TunnelEnd } from './relay.js';
import type { ServedTunnel } from './http/gateway.js';
import { TargetReads } from './target-reads.js';

export const TUNNEL_PATH = '/v1/tunnel';
/**
 * Largest frame a client may send. A client sends each local socket read as one frame (64 KiB
 * with Node's defaults, similar elsewhere); a megabyte leaves room for bigger reads while keeping
 * what ws assembles in memory for one message small. Larger frames close the tunnel (1009).
 */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** On shutdown, clients get this long to answer the close frame before their sockets are cut. */
export const CLOSE_GRACE_MS = 1_000;
/**
 * The cuts after which the server's side of the session is ended too (TargetWatch.afterCut): the
 * broker's own decisions. Not policyViolation (a malformed frame) nor ends the client or the target chose.
 */
const SERVER_SIDE_CUTS: ReadonlySet<number> = new Set([
  CloseCode.grantExpired,
  CloseCode.grantRevoked,
  CloseCode.membershipLost,
  CloseCode.membershipUnconfirmed,
  CloseCode.outsideHours,
  CloseCode.conditionUnmet,
  CloseCode.idleTimeout,
  CloseCode.goingAway,
]);

export interface TunnelEndpointOptions {
  config: Pick<BrokerConfig, 'resources' | 'membershipRecheckSeconds' | 'membershipGraceSeconds' | 'limits'>;
  /** The request store: grants are read from it at open and again right after the dial. */
  grants: GrantLookup;
  /** Usually the broker's CachedDirectory; admission and re-checks read through `fresh`. */
  directory: Directory;
  sessions: SessionStore;
  now: () => number;
  log: Logger;
  /** Session ids; default random (requests/ids.ts, the same alphabet as request ids). */
  newId?: IdGenerator;
  /** Default TARGET_CONNECT_TIMEOUT_MS (10 s). */
  connectTimeoutMs?: number;
  /** Default config.membershipRecheckSeconds. */
  membershipRecheckMs?: number;
  /** Default config.membershipGraceSeconds. */
  membershipGraceMs?: number;
  /**
   * Per tunnel, an observer of the bytes the client sends (after the protocol's preamble), or null.
   * For the audit log's Postgres query capture (tunnel/postgres/session-capture.ts).
   */
  observe?: (session: NewSession, policy: ResourcePolicy) => TunnelObserver | null;
  /**
   * Per tunnel of a kind the broker speaks itself (http: tunnel/http/gateway.ts), the stream the relay
   * uses in place of the dialled socket (which the server then owns), or null to relay to the target.
   */
  serve?: (session: NewSession, policy: ResourcePolicy, target: net.Socket) => ServedTunnel | null;
  /** Where tunnels refused for a resource condition are audited (policy.refused); absent: not audited. */
  audit?: AuditAppender;
}

/** An open tunnel as the endpoint tracks it. */
interface Tunnel {
  session: NewSession;
  principal: Principal;
  policy: ResourcePolicy;
  relay: Relay;
  release: () => void;
  observer: TunnelObserver | null;
  /** The kind's reader of the target stream (tunnel/protocol.ts), or null. */
  watch: TargetWatch | null;
  /** The broker's own server standing in for the target (http), or null. */
  served: ServedTunnel | null;
  /** The stored database login the broker uses for this tunnel, or null (tunnel/database-credential.ts). */
  credential: DatabaseCredential | null;
  /** The reused read slabs of a plain-bytes target (target-reads.ts); null for kinds whose protocol the broker reads. */
  reads: TargetReads | null;
}

/** An open tunnel as `status()` shows it. */
export interface TunnelStatus {
  session: string;
  user: string;
  resource: string;
  bytesUp: number;
  bytesDown: number;
  /** Bytes the broker holds for the client / the target (bounded by backpressure). */
  queuedToClient: number;
  queuedToTarget: number;
}

export type SessionEvent = { type: 'opened'; session: SessionRecord } | { type: 'closed'; session: SessionRecord };
export type SessionListener = (event: SessionEvent) => void;

export class TunnelEndpoint implements UpgradeRoute {
  readonly path = TUNNEL_PATH;
  readonly #options: TunnelEndpointOptions;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES, clientTracking: false });
  readonly #tunnels = new Set<Tunnel>();
  /** Per resource: tunnels open plus dials in progress, against maxConnections. */
  readonly #slots = new Map<string, number>();
  /** Per person and resource: their share of those slots, against limits.maxTunnelsPerUserPerResource. */
  readonly #userSlots = new OpenCounter();
  readonly #deadlines: GrantDeadlines<Tunnel>;
  /** Per tunnel (by session id): when its resource's conditions stop holding by themselves (the window's end, the sign-in's age). */
  readonly #conditionDeadlines: GrantDeadlines<Tunnel>;
  readonly #listeners = new Set<SessionListener>();
  /** Server-side ends in progress after cuts; shutdown waits for them (each is bounded by its timeout). */
  readonly #afterCuts = new Set<Promise<void>>();
  readonly #membership: MembershipRecheck;
  /** Told when the last open tunnel ends (drain). */
  readonly #idleWaiters = new Set<() => void>();
  #tick: NodeJS.Timeout | null = null;
  #closing = false;

  constructor(options: TunnelEndpointOptions) {
    this.#options = options;
    this.#membership = new MembershipRecheck({
      directory: options.directory,
      log: options.log,
      now: options.now,
      graceMs: options.membershipGraceMs ?? options.config.membershipGraceSeconds * 1000,
    });
    this.#deadlines = new GrantDeadlines<Tunnel>(options.now, (_grantId, expiresAt, tunnels) => {
      for (const tunnel of tunnels) tunnel.relay.cut(CloseCode.grantExpired, expiredReason(expiresAt));
    });
    this.#conditionDeadlines = new GrantDeadlines<Tunnel>(options.now, (_sessionId, _at, tunnels) => {
      for (const tunnel of tunnels) this.#enforceConditions(tunnel);
    });
  }

  /**
   * At a tunnel's conditions deadline: cut it when they no longer hold, else (the next window
   * follows at once, e.g. Mon-Fri 00:00-24:00 at midnight) watch for the next deadline.
   */
  #enforceConditions(tunnel: Tunnel): void {
    const id = tunnel.session.id;
    this.#conditionDeadlines.remove(id, tunnel);
    const { policy, principal, relay } = tunnel;
    const result = checkConditions(policy, principal, this.#options.now());
    if (!result.ok) {
      const cut = conditionCut(policy.name, result, policy.conditions?.hours?.text ?? null);
      relay.cut(cut.code, cut.reason);
      return;
    }
    if (result.until !== null && !relay.ending) this.#conditionDeadlines.add(id, result.until, tunnel);
  }

  /** A tunnel refused for a resource condition is audited (policy.refused, action connect, with the condition). */
  #auditConditionRefusal(principal: Principal, resource: string | null, error: unknown): void {
    const audit = this.#options.audit;
    if (!audit || !(error instanceof AccessError) || !CONDITION_OF_CODE[error.code]) return;
    try {
      audit.append(
        refusalEntry(
          'connect',
          { oid: principal.oid, upn: principal.upn },
          { requestId: null, resource },
          error,
          { clientAddress: principal.clientAddress },
          this.#options.now(),
        ),
      );
    } catch (auditError) {
      // The caller must still learn why they were refused; the failed append is the operator's problem.
      this.#options.log.error('audit entry for a refused tunnel could not be written', {
        code: error.code,
        error: auditError instanceof Error ? auditError.message : String(auditError),
      });
    }
  }

  /** Open tunnels (for logs and tests). */
  get connections(): number {
    return this.#tunnels.size;
  }

  /** The open tunnels now (operations, tests). */
  status(): TunnelStatus[] {
    return [...this.#tunnels].map(({ session, relay }) => ({
      session: session.id,
      user: actorName(session.user),
      resource: session.resource,
      bytesUp: relay.bytesUp,
      bytesDown: relay.bytesDown,
      queuedToClient: relay.queued.toClient,
      queuedToTarget: relay.queued.toTarget,
    }));
  }

  /** Registers a listener for sessions opening and closing (the audit log); returns its removal. */
  onSession(listener: SessionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async handle(ctx: UpgradeContext, principal: Principal): Promise<void> {
    const { grants, directory, now } = this.#options;
    const resource = ctx.url.searchParams.get('resource');
    let admission: Admission;
    try {
      admission = await admit(principal, resource, { resources: this.#options.config.resources, grants, directory, now: now() });
    } catch (error) {
      this.#auditConditionRefusal(principal, resource, error);
      throw error;
    }
    const { policy, grant, conditionsUntil, credential } = admission;
    if (ctx.socket.destroyed || this.#closing) {
      ctx.socket.destroy();
      return;
    }
    const release = this.#reserve(policy, principal.oid);
    // A client that gives up while the broker dials must not leave a target connection behind.
    const abandoned = new AbortController();
    const onClientGone = (): void => abandoned.abort();
    ctx.socket.once('close', onClientGone);
    let target: net.Socket;
    const reads = relayedAsPlainBytes(policy.kind) ? new TargetReads() : null;
    try {
      const timeoutMs = this.#options.connectTimeoutMs ?? TARGET_CONNECT_TIMEOUT_MS;
      target = await dialTarget(policy.target, { resource: policy.name, timeoutMs, signal: abandoned.signal, ...(reads ? { reads } : {}) });
      const prepare = protocolFor(policy.kind).prepareTarget;
      if (prepare) target = await prepare(target, policy, { timeoutMs, signal: abandoned.signal });
    } catch (error) {
      release();
      throw error;
    } finally {
      ctx.socket.off('close', onClientGone);
    }
    try {
      this.#open(ctx, principal, policy, { grant, conditionsUntil, credential, reads }, target, release);
    } catch (error) {
      target.destroy();
      release();
      throw error;
    }
  }

  /**
   * Cuts the tunnels of a grant that was revoked or expired, and moves the end of those of a grant
   * that was extended (RequestService.onChange): they keep running, no reconnect.
   */
  onRequestChange(request: AccessRequest, changes: readonly RequestChange[]): void {
    if (changes.includes('extended') && request.state === 'approved' && request.expiresAt !== null) {
      this.#deadlines.move(request.id, request.expiresAt);
      return;
    }
    if (changes.includes('revoked')) {
      const reason = revokedReason(request.closedBy, request.closeReason);
      for (const tunnel of this.#deadlines.members(request.id)) tunnel.relay.cut(CloseCode.grantRevoked, reason);
    } else if (changes.includes('expired') && request.expiresAt !== null) {
      const reason = expiredReason(request.expiresAt);
      for (const tunnel of this.#deadlines.members(request.id)) tunnel.relay.cut(CloseCode.grantExpired, reason);
    }
  }

  /**
   * Cuts the live tunnels whose session another broker has already closed in the store: this broker
   * went silent long enough to be judged lost (broker-presence.ts), so what it relays now would be
   * outside the audited session. Closed as "going away": the client may connect again. Returns how many.
   */
  cutClosedElsewhere(): number {
    const closed = [...this.#tunnels].filter((tunnel) => this.#options.sessions.get(tunnel.session.id)?.endedAt != null);
    for (const tunnel of closed) tunnel.relay.cut(CloseCode.goingAway, 'this broker lost touch with the others; connect again');
    return closed.length;
  }

  /**
   * Waits until no tunnel is open, or `timeoutMs`, whichever comes first; resolves with how many are
   * still open. Tunnels are not cut here: their grants' expiries, revokes and re-checks still apply,
   * and `close` cuts what is left.
   */
  async drain(timeoutMs: number): Promise<{ open: number }> {
    if (this.#tunnels.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      let done: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        done = resolve;
        this.#idleWaiters.add(resolve);
        timer = setTimeout(resolve, timeoutMs);
        // The open tunnels keep the process alive while they last; the deadline alone must not.
        timer.unref();
      });
      clearTimeout(timer);
      if (done) this.#idleWaiters.delete(done);
    }
    return { open: this.#tunnels.size };
  }

  /** Closes every tunnel with "going away" (sessions recorded as goingAway) and stops the timers. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#stopTick();
    await Promise.all([...this.#tunnels].map((tunnel) => this.#closeGracefully(tunnel)));
    await Promise.all([...this.#afterCuts]);
    this.#deadlines.clear();
    this.#conditionDeadlines.clear();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  /** After the dial: checks again, records the session and completes the upgrade, all in one synchronous step. */
  #open(
    ctx: UpgradeContext,
    principal: Principal,
    policy: ResourcePolicy,
    {
      grant,
      conditionsUntil,
      credential,
      reads,
    }: { grant: LiveGrant; conditionsUntil: number | null; credential: DatabaseCredential | null; reads: TargetReads | null },
    target: net.Socket,
    release: () => void,
  ): void {
    const { sessions, grants, now } = this.#options;
    if (ctx.socket.destroyed || this.#closing) {
      target.destroy();
      release();
      ctx.socket.destroy();
      return;
    }
    // A revoke or the expiry may have landed during the dial, or an extension moved the end; from here
    // on the change listener sees the tunnel.
    const expiresAt = grants.liveUntil(grant.id, now());
    if (expiresAt === null) throw noLiveGrant(grants, principal.oid, policy.name, now());
    const session: NewSession = {
      id: this.#freshId(),
      requestId: grant.id,
      user: actorOf(principal),
      resource: policy.name,
      // The address the conditions saw: the peer, or X-Forwarded-For behind a trusted proxy.
      clientAddress: principal.clientAddress ?? ctx.req.socket.remoteAddress ?? null,
      target: formatTarget(policy.target),
      startedAt: now(),
      // A session under a break-glass grant says so in its session.opened entry.
      ...(grant.breakGlass ? { breakGlass: true } : {}),
    };
    // Everything that may fail happens before the WebSocket exists, so a failure is still an HTTP error.
    const observer = this.#options.observe?.(session, policy) ?? null;
    const served = this.#options.serve?.(session, policy, target) ?? null;
    // Recorded before the WebSocket exists: a tunnel the audit cannot see never carries a byte.
    try {
      sessions.open(session);
    } catch (error) {
      served?.stream.destroy();
      served?.end();
      throw error;
    }
    let upgraded = false;
    this.#wss.handleUpgrade(ctx.req, ctx.socket, ctx.head, (ws: WebSocket, _req: IncomingMessage) => {
      upgraded = true;
      this.#start(ws, served?.stream ?? target, { session, principal, policy, credential, release, observer, served, reads }, expiresAt, conditionsUntil);
    });
    if (upgraded) return;
    // ws refused the handshake itself (bad Sec-WebSocket-Key or version) and answered 400.
    served?.stream.destroy();
    served?.end();
    target.destroy();
    release();
    sessions.close(session.id, { endedAt: now(), bytesUp: 0, bytesDown: 0, reason: 'clientClosed', detail: 'the WebSocket handshake was invalid' });
  }

  /** `expiresAt`: the grant's end as read a moment ago (liveUntil). */
  #start(ws: WebSocket, target: net.Socket, parts: Omit<Tunnel, 'relay' | 'watch'>, expiresAt: number, conditionsUntil: number | null): void {
    const { now, log } = this.#options;
    const { observer } = parts;
    const protocol = protocolFor(parts.policy.kind);
    const tunnel: Tunnel = {
      ...parts,
      watch: null,
      relay: new Relay(ws, target, {
        idleTimeoutMs: parts.policy.idleTimeoutMs,
        now,
        onEnd: (end) => this.#ended(tunnel, end),
        observeUp: observer ? (chunk) => observer.up(chunk) : null,
        beforeDown: observer?.beforeDown ? (chunk) => observer.beforeDown?.(chunk) ?? null : null,
        preamble:
          protocol.preamble?.(parts.policy, {
            target,
            credential: parts.credential,
            session: parts.session,
            record: (entry) => observer?.record?.(entry),
            now,
          }) ?? null,
        onCut: protocol.watchTarget || observer?.afterCut ? (code) => this.#afterCut(tunnel, code) : null,
        reads: parts.reads,
      }),
    };
    // After the relay's own listener, so the relay reads the target first; neither misses a byte.
    tunnel.watch = protocol.watchTarget?.(target, parts.policy) ?? null;
    this.#tunnels.add(tunnel);
    this.#deadlines.add(parts.session.requestId, expiresAt, tunnel);
    if (conditionsUntil !== null) this.#conditionDeadlines.add(tunnel.session.id, conditionsUntil, tunnel);
    this.#startTick();
    const { session } = tunnel;
    log.info('tunnel opened', {
      session: session.id,
      user: actorName(session.user),
      resource: session.resource,
      target: session.target,
      grant: session.requestId,
      client: session.clientAddress,
      expiresAt: new Date(expiresAt).toISOString(),
    });
    this.#emit({ type: 'opened', session: record(session, null, 0, 0) });
  }

  /** After the broker cut `tunnel`: ends the session on the server too (a Postgres cancel), logs and audits it. */
  #afterCut(tunnel: Tunnel, code: CloseCode): void {
    const { watch, session, observer } = tunnel;
    // The kind's own watch (Postgres), else the query log when it knows the server's session (MySQL).
    const ender = watch ?? (observer?.afterCut ? observer : null);
    if (!ender?.afterCut || !SERVER_SIDE_CUTS.has(code)) return;
    const { log, now } = this.#options;
    const cut = closeCodeName(code);
    const done = ender
      .afterCut(session, cut, now())
      .then((ended) => {
        if (!ended) return;
        log.info(ended.message, ended.fields);
        observer?.record?.(ended.entry);
      })
      .catch((error: unknown) => {
        log.warn('could not end the cut session on the server; its running query may go on until it finishes', {
          session: session.id,
          resource: session.resource,
          cut,
          error: error instanceof Error ? error.message : String(error),
        });
      })
      .finally(() => this.#afterCuts.delete(done));
    this.#afterCuts.add(done);
  }

  #ended(tunnel: Tunnel, end: TunnelEnd): void {
    const { session, relay } = tunnel;
    tunnel.watch?.stop();
    tunnel.served?.end();
    this.#tunnels.delete(tunnel);
    this.#deadlines.remove(session.requestId, tunnel);
    this.#conditionDeadlines.remove(session.id, tunnel);
    tunnel.release();
    if (this.#tunnels.size === 0) {
      this.#stopTick();
      for (const waiter of this.#idleWaiters) waiter();
    }
    try {
      tunnel.observer?.end();
    } catch (error) {
      this.#options.log.error('tunnel observer failed at the end of its session', {
        session: session.id,
        error: error instanceof Error ? error.stack : String(error),
      });
    }
    try {
      this.#options.sessions.close(session.id, { endedAt: end.at, bytesUp: relay.bytesUp, bytesDown: relay.bytesDown, reason: end.reason, detail: end.detail });
    } catch (error) {
      this.#options.log.error('tunnel session could not be recorded as closed', {
        session: session.id,
        error: error instanceof Error ? error.stack : String(error),
      });
    }
    this.#options.log.info('tunnel closed', {
      session: session.id,
      user: actorName(session.user),
      resource: session.resource,
      reason: end.reason,
      detail: end.detail,
      bytesUp: relay.bytesUp,
      bytesDown: relay.bytesDown,
      seconds: Math.round((end.at - session.startedAt) / 1000),
    });
    this.#emit({ type: 'closed', session: record(session, end, relay.bytesUp, relay.bytesDown) });
  }

  /** Takes a connection slot of the resource or refuses 429; the returned release is safe to call twice. */
  #reserve(policy: ResourcePolicy, oid: string): () => void {
    const used = this.#slots.get(policy.name) ?? 0;
    if (used >= policy.maxConnections) {
      throw new AccessError(
        'too_many_connections',
        `${policy.name} already has ${used} open tunnel${used === 1 ? '' : 's'}, its limit (maxConnections ${policy.maxConnections}). ` +
          'Close one you no longer use, or try again shortly.',
      );
    }
    // One person may not take every slot of a resource: their own share is capped too.
    const perUser = callerLimits(this.#options.config.limits).maxTunnelsPerUserPerResource;
    const userKey = `${oid} ${policy.name}`;
    const mine = this.#userSlots.count(userKey);
    if (mine >= perUser) {
      throw new AccessError(
        'too_many_connections',
        `You already have ${mine} open tunnel${mine === 1 ? '' : 's'} to ${policy.name}, the most one person may hold (${perUser}). ` +
          'Close one you no longer use, or try again shortly.',
      );
    }
    const releaseMine = this.#userSlots.open(userKey);
    this.#slots.set(policy.name, used + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      releaseMine();
      const left = (this.#slots.get(policy.name) ?? 1) - 1;
      if (left > 0) this.#slots.set(policy.name, left);
      else this.#slots.delete(policy.name);
    };
  }

  /** The periodic work of open tunnels: membership re-check and byte counts to the store. Runs only while tunnels are open. */
  #startTick(): void {
    if (this.#tick) return;
    const interval = this.#options.membershipRecheckMs ?? this.#options.config.membershipRecheckSeconds * 1000;
    this.#tick = setInterval(() => {
      this.#recordProgress();
      this.#membership.run([...this.#tunnels].map((tunnel) => recheckable(tunnel, this.#options.now))).catch((error: unknown) => {
        this.#options.log.error('tunnel membership re-check failed unexpectedly', { error: error instanceof Error ? error.stack : String(error) });
      });
    }, interval);
    this.#tick.unref();
  }

  #stopTick(): void {
    if (this.#tick) clearInterval(this.#tick);
    this.#tick = null;
  }

  /** So a crash leaves the byte counts of open sessions roughly right. */
  #recordProgress(): void {
    try {
      for (const { session, relay } of this.#tunnels) this.#options.sessions.progress(session.id, relay.bytesUp, relay.bytesDown);
    } catch (error) {
      this.#options.log.warn('tunnel byte counts could not be recorded', { error: error instanceof Error ? error.message : String(error) });
    }
  }

  async #closeGracefully(tunnel: Tunnel): Promise<void> {
    const cutOff = setTimeout(() => tunnel.relay.terminate(), CLOSE_GRACE_MS);
    tunnel.relay.cut(CloseCode.goingAway, CLOSE_REASONS[CloseCode.goingAway]);
    await tunnel.relay.closed;
    clearTimeout(cutOff);
  }

  #emit(event: SessionEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#options.log.error('tunnel session listener failed', { session: event.session.id, error: error instanceof Error ? error.stack : String(error) });
      }
    }
  }

  #freshId(): string {
    return (this.#options.newId ?? randomRequestId)();
  }
}

function recheckable(tunnel: Tunnel, now: () => number): RecheckedTunnel {
  const { session, policy, relay } = tunnel;
  return {
    oid: session.user.oid,
    resource: policy.name,
    requesters: tunnelGroups(policy, session.breakGlass === true),
    workload: tunnel.principal.kind === 'app',
    openedAt: session.startedAt,
    ending: relay.ending,
    cut: (code, reason) => relay.cut(code, reason),
    conditionCut: () => conditionsCutOf(tunnel, now()),
  };
}

/** The cut a tunnel's resource conditions call for at `now` (on the token it opened with), or null while they hold. */
function conditionsCutOf({ policy, principal }: Tunnel, now: number): { code: CloseCode; reason: string } | null {
  const result = checkConditions(policy, principal, now);
  return result.ok ? null : conditionCut(policy.name, result, policy.conditions?.hours?.text ?? null);
}

function record(session: NewSession, end: TunnelEnd | null, bytesUp: number, bytesDown: number): SessionRecord {
  return { ...session, endedAt: end?.at ?? null, bytesUp, bytesDown, reason: end?.reason ?? null, detail: end?.detail ?? null };
}
