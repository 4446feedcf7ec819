// The broker's one composition root: builds the store, the audit log, the request service, the
// events hub and its WebSocket endpoint, the deadline scheduler and the tunnel endpoint once, in
// that order, and returns the request and upgrade handlers with `close()`. `access-broker dev`,
// `serve`, the test harnesses and the benchmarks all assemble a broker here; what differs between
// them (the identity edge, the data file, tuning for tests) comes in as options.

import { randomUUID } from 'node:crypto';
import { callerLimits } from '../shared/limits.js';
import type { BrokerConfigResponse } from '../shared/wire.js';
import { authenticator, type BrokerApp, type Verifier } from './app.js';
import { Audit, type AuditOptions } from './audit/audit.js';
import { FailedSignIns } from './auth/failed-sign-ins.js';
import { AuditedSessionStore } from './audit/audited-session-store.js';
import { BrokerPresence } from './broker-presence.js';
import type { BrokerConfig } from './config/types.js';
import { EventsEndpoint } from './events/endpoint.js';
import { EventHub } from './events/hub.js';
import { ForwardAuthEndpoint } from './forward-auth/endpoint.js';
import { DEFAULT_FORWARD_AUTH_AUDIT_WINDOW_MS } from './config/schema.js';
import type { HostAllowList } from './http/host-allow-list.js';
import { SharedRateLimiter } from './http/rate-limit.js';
import { authorizeEndpoint } from './http/respond.js';
import { upgradeRouter, type UpgradeListener } from './http/upgrade.js';
import type { Directory } from './identity/directory.js';
import type { Servable } from './lifecycle.js';
import type { Logger } from './log.js';
import { BrokerMetrics } from './metrics/metrics.js';
import { checkReadiness, storeCheck, type Readiness, type ReadinessCheck } from './readiness.js';
import type { IdGenerator } from './requests/ids.js';
import { NotificationDispatcher, type Post } from './notifications/dispatcher.js';
import { DeadlineScheduler } from './requests/scheduler.js';
import { RemoteChanges } from './requests/remote-changes.js';
import { RequestService } from './requests/service.js';
import { brokerRequestHandler, type RequestHandler, type SideHandler } from './server.js';
import { CHANGES_CHANNEL, SqlChangeLog } from './store/change-log.js';
import { BrokerInstances } from './store/broker-instances.js';
import type { Database } from './store/database.js';
import { IdentityKeyStore } from './store/identity-keys.js';
import { NotificationOutbox } from './store/notification-outbox.js';
import { RateBucketStore } from './store/rate-buckets.js';
import { SqlRequestStore } from './store/request-store.js';
import { SqlSessionStore, type SessionStore } from './store/session-store.js';
import { TunnelEndpoint, type TunnelEndpointOptions } from './tunnel/endpoint.js';
import { HttpGateway } from './tunnel/http/gateway.js';
import { IdentityTokens } from './tunnel/http/identity-token.js';
import { statementCapture } from './tunnel/protocols.js';

export interface AssembleOptions {
  config: BrokerConfig;
  /** What `GET /v1/config` answers. */
  signIn: BrokerConfigResponse;
  /** The identity edge: the real jose verifier and Graph directory, or fakes in tests. */
  verifier: Verifier;
  directory: Directory;
  log: Logger;
  /**
   * The opened store (store/open-store.ts: SQLite in the data directory or the shared PostgreSQL;
   * `openDatabase(':memory:')` for a throwaway broker). The broker owns it from here: close() closes it.
   */
  db: Database;
  /** Default Date.now. */
  now?: () => number;
  /** The embedded dev tenant under `access-broker dev`: answers the non-/v1 paths it knows. */
  side?: SideHandler | null;
  /**
   * The Host names the broker answers to (http/host-allow-list.ts): any other Host gets 421 on every
   * route and upgrade, the side's included. `access-broker dev` sets them, whose password-less
   * sign-in page must not be reachable by DNS rebinding. Default null: any Host.
   */
  hosts?: HostAllowList | null;
  /** What `/readyz` asks besides the store: the signing keys and Graph (buildIdentity). */
  readiness?: ReadinessCheck[];
  /** Request id generator; default random (ids.ts). */
  newId?: IdGenerator;
  /** Keepalive ping interval of the events stream; default DEFAULT_PING_INTERVAL_MS. */
  pingIntervalMs?: number;
  /** Tunnel tuning for tests (connect timeout, re-check interval, session ids); defaults in tunnel/endpoint.ts. */
  tunnel?: Pick<TunnelEndpointOptions, 'connectTimeoutMs' | 'membershipRecheckMs' | 'membershipGraceMs' | 'newId'>;
  /** Batching of high-volume audit entries; defaults in audit/batch-appender.ts. */
  auditBatch?: AuditOptions['batch'];
  /** How notifications are POSTed; default fetch (notifications/dispatcher.ts). Tests pass a recorder. */
  notificationPost?: Post;
  /**
   * The Prometheus metrics (metrics/metrics.ts): made before the identity edge, whose Graph client
   * reports to it. Default: a fresh one (the broker is measured whether or not anyone scrapes it).
   */
  metrics?: BrokerMetrics;
}

export interface AssembledBroker extends Servable {
  /** What every handler is given; complete, never changed. */
  app: BrokerApp;
  service: RequestService;
  audit: Audit;
  hub: EventHub;
  scheduler: DeadlineScheduler;
  events: EventsEndpoint;
  tunnels: TunnelEndpoint;
  sessions: SessionStore;
  /** `GET /v1/forward-auth`, asked by nginx, HAProxy and Traefik for each request they proxy. */
  forwardAuth: ForwardAuthEndpoint;
  metrics: BrokerMetrics;
  handleRequest: RequestHandler;
  /** Serves `/v1/events` and `/v1/tunnel` on a server's `upgrade` event. */
  handleUpgrade: UpgradeListener;
  /** Asks the store and the identity edge whether they answer (`GET /readyz`). */
  readiness(): Promise<Readiness>;
  /**
   * Resolves once no tunnel is open or after `timeoutMs`, whichever comes first (SIGTERM's drain,
   * lifecycle.ts); with how many were still open. Revokes and expiries keep cutting meanwhile.
   */
  drain(timeoutMs: number): Promise<{ open: number }>;
  /** Closes event streams and tunnels, stops the scheduler, writes batched audit entries and closes the database. */
  close(): Promise<void>;
}

export function assembleBroker(options: AssembleOptions): AssembledBroker {
  const { config, directory, log } = options;
  const now = options.now ?? Date.now;
  const metrics = options.metrics ?? new BrokerMetrics();
  const { db } = options;
  // This broker process among those sharing the database: the writer of its change-log rows (the
  // others skip their own) and the owner of the tunnel sessions it relays.
  const brokerId = randomUUID();
  const changeLog = new SqlChangeLog(db, brokerId);
  // Every call into the stores is timed (access_store_operation_duration_seconds).
  const store = metrics.timed('requests', new SqlRequestStore(db));
  const audit = new Audit({ db, config, directory, now, logger: log, ...(options.auditBatch ? { batch: options.auditBatch } : {}) });
  // Notifications (Teams, Slack, signed webhooks): an outbox in this database, filled in the
  // transaction of each change, delivered after the commit.
  const notifier = config.notifications
    ? new NotificationDispatcher({
        config: config.notifications,
        outbox: new NotificationOutbox(db),
        now,
        log,
        onTry: metrics.notificationTried,
        ...(options.notificationPost ? { post: options.notificationPost } : {}),
      })
    : null;
  const service: RequestService = new RequestService({
    config,
    store,
    directory,
    now,
    log,
    audit: audit.log,
    changeLog,
    ...(notifier ? { notify: (request, changes, at) => notifier.enqueueChange(service.view(request), changes, at) } : {}),
    ...(options.newId ? { newId: options.newId } : {}),
  });
  if (notifier) service.onChange(() => notifier.kick());
  const hub = new EventHub(config, log);
  service.onChange((request, changes) => {
    for (const change of changes) hub.publish(change, request);
  });
  const scheduler = new DeadlineScheduler({
    service,
    store,
    now,
    log,
    warn: (request, inMs) => {
      const view = service.view(request);
      hub.sendTo(request.requester.oid, { type: 'expiring', request: view, inMs });
      if (!notifier) return;
      store.transaction(() => notifier.enqueueExpiring(view, inMs, now()));
      notifier.kick();
    },
  });
  // Brokers sharing a PostgreSQL database: the changes the others commit reach this one's listeners
  // (every one of them, the tunnels' and forward-auth's registered below included: nothing is read
  // before this function returns).
  const listen = db.listen?.bind(db);
  const remoteChanges =
    listen !== undefined
      ? new RemoteChanges({
          changeLog,
          requests: store,
          relay: (request, changes) => service.relay(request, changes),
          signal: (handlers) => listen({ channel: CHANGES_CHANNEL, log, ...handlers }),
          log,
        })
      : null;
  try {
    scheduler.start();
    notifier?.start();
    remoteChanges?.start();
  } catch (error) {
    scheduler.stop();
    audit.close();
    db.close();
    throw error;
  }
  const events = new EventsEndpoint({
    hub,
    directory,
    log,
    now,
    maxStreamsPerUser: callerLimits(config.limits).maxEventStreamsPerUser,
    ...(options.pingIntervalMs ? { pingIntervalMs: options.pingIntervalMs } : {}),
  });

  // Every session opening and closing is also an audit entry, in the same transaction as its row.
  // Each session row names this broker; sessions of crashed (SQLite) or lost (PostgreSQL) brokers are closed by its presence.
  const sessions = metrics.timed('sessions', new AuditedSessionStore(db, new SqlSessionStore(db, brokerId), audit.log));
  // http resources: the broker forwards each request itself, with the caller's identity signed by the key all brokers on the database share.
  const identityTokens = IdentityTokens.shared(new IdentityKeyStore(db), now());
  const gateway = new HttpGateway({ sink: audit.batch, log, now, tokens: identityTokens });
  const tunnels = new TunnelEndpoint({
    config,
    grants: store,
    directory,
    sessions,
    now,
    log,
    // Every statement of a postgres or mysql session goes to the audit log, in batches.
    observe: statementCapture({ sink: audit.batch, log, now }),
    // Every request of an http or grpc session too, each written before it is forwarded.
    serve: (session, policy, target) => gateway.serve(session, policy, target),
    audit: audit.log,
    ...options.tunnel,
  });
  // Registers this broker before any tunnel opens (the server listens only after assembly).
  const presence = new BrokerPresence({
    id: brokerId,
    instances: new BrokerInstances(db),
    sessions,
    shared: db.shared,
    now,
    log,
    onOutOfTouch: () => tunnels.cutClosedElsewhere(),
  });
  presence.start();
  // Revokes (and expiries the sweep records) cut the grant's tunnels the moment they commit.
  service.onChange((request, changes) => tunnels.onRequestChange(request, changes));
  // Counted by the broker that made the change only: the brokers' metrics add up.
  service.onChange((request, changes, origin) => {
    if (origin === 'local') metrics.requestChanged(request, changes);
  });
  tunnels.onSession((event) => {
    if (event.type === 'closed') metrics.tunnelClosed(event.session);
  });
  metrics.attach({
    openRequests: (at) => store.countOpen(at),
    tunnels: () => tunnels.status(),
    auditBacklog: () => ({ pending: audit.batch.pending, oldestPendingAt: audit.batch.oldestPendingAt }),
    now,
  });

  // Shared by every broker on the database, so more brokers do not mean more requests per person.
  const requestCreations = new SharedRateLimiter(new RateBucketStore(db), 'request_creation', service.limits.requestCreation, now);
  const app: BrokerApp = {
    config,
    signIn: options.signIn,
    verifier: options.verifier,
    directory,
    now,
    log,
    requests: service,
    audit,
    identityTokens,
    requestCreations,
  };
  // Counts failed token checks per source address for this broker (auth/failed-sign-ins.ts).
  const authenticate = authenticator(options.verifier, audit.signins, new FailedSignIns(), config.trustedProxies);
  const forwardAuth = new ForwardAuthEndpoint({
    resources: config.resources,
    grants: store,
    directory,
    // Its own failure counter: one proxy address speaks for many people (auth/failed-sign-ins.ts).
    authenticate: authenticator(options.verifier, audit.signins, new FailedSignIns(), config.trustedProxies),
    audit: audit.batch,
    auditWindowMs: config.forwardAuth?.auditWindowMs ?? DEFAULT_FORWARD_AUTH_AUDIT_WINDOW_MS,
    now,
    log,
  });
  // A revoked or expired grant's cached decisions are dropped the moment the change commits.
  service.onChange((request, changes) => forwardAuth.onRequestChange(request, changes));
  const hosts = options.hosts ?? null;
  // Mutual TLS: the listener (http/tls.ts createListener) asks for certificates; here they are required.
  const clientCertificates = config.tls !== undefined;
  const checks: ReadinessCheck[] = [storeCheck(db), ...(options.readiness ?? [])];
  let closing: Promise<void> | null = null;
  return {
    app,
    service,
    audit,
    hub,
    scheduler,
    events,
    tunnels,
    sessions,
    forwardAuth,
    metrics,
    handleRequest: brokerRequestHandler(app, authenticate, { side: options.side ?? null, hosts, extraRoutes: [forwardAuth.route()], clientCertificates }),
    handleUpgrade: upgradeRouter(authenticate, log, [events, tunnels], hosts, authorizeEndpoint(options.signIn.authority), clientCertificates),
    readiness: () => checkReadiness(checks),
    drain: (timeoutMs) => tunnels.drain(timeoutMs),
    close() {
      closing ??= (async () => {
        scheduler.stop();
        await remoteChanges?.stop();
        // Tunnels record their end in the database, so they close before it does; so does a delivery in flight.
        await Promise.all([events.close(), tunnels.close(), notifier?.stop()]);
        presence.stop();
        // The window's forward-auth counts go to the batch, which is written next.
        forwardAuth.close();
        // Batched entries are written before the database closes.
        audit.close();
        db.close();
      })();
      return closing;
    },
  };
}
