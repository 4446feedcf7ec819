// Wires access requests into a running broker: the SQLite store, the request service, the events
// hub and its WebSocket endpoint, the deadline scheduler, and the tunnel endpoint with its session
// store (sessions a crash left open are closed here, at start). `access-broker dev` and `serve` call
// startRequests once, set `app.requests` so the REST routes are served, and attach the upgrade
// router to their HTTP server.

import type http from 'node:http';
import { callerLimits } from '../../shared/limits.js';
import type { BrokerApp } from '../app.js';
import { Audit } from '../audit/audit.js';
import { AuditedSessionStore } from '../audit/audited-session-store.js';
import { EventsEndpoint } from '../events/endpoint.js';
import { EventHub } from '../events/hub.js';
import { upgradeRouter, type UpgradeListener, type UpgradeRoute } from '../http/upgrade.js';
import { openDatabase } from '../store/database.js';
import { SqliteRequestStore } from '../store/request-store.js';
import { SqliteSessionStore, type SessionStore } from '../store/session-store.js';
import { TunnelEndpoint, type TunnelEndpointOptions } from '../tunnel/endpoint.js';
import { pgQueryCapture } from '../tunnel/postgres/session-capture.js';
import type { IdGenerator } from './ids.js';
import { DeadlineScheduler } from './scheduler.js';
import { RequestService } from './service.js';

export interface StartRequestsOptions {
  app: BrokerApp;
  /** The SQLite file (under the broker's data directory), or ':memory:' for a throwaway broker. */
  dataFile: string;
  /** More WebSocket endpoints served by the same upgrade router (the tunnel, later). */
  upgradeRoutes?: UpgradeRoute[];
  /** Request id generator; default random (ids.ts). */
  newId?: IdGenerator;
  /** Keepalive ping interval of the events stream; default DEFAULT_PING_INTERVAL_MS. */
  pingIntervalMs?: number;
  /** Tunnel tuning for tests (connect timeout, re-check interval, session ids); defaults in tunnel/endpoint.ts. */
  tunnel?: Pick<TunnelEndpointOptions, 'connectTimeoutMs' | 'membershipRecheckMs' | 'membershipGraceMs' | 'newId'>;
}

export interface RequestsRuntime {
  service: RequestService;
  /** The audit log on the same database; serve it as `app.audit`. Request changes are appended to it. */
  audit: Audit;
  hub: EventHub;
  scheduler: DeadlineScheduler;
  events: EventsEndpoint;
  tunnels: TunnelEndpoint;
  sessions: SessionStore;
  /** Serves the WebSocket endpoints on `server`'s `upgrade` event. */
  attach(server: http.Server): void;
  /** Closes event streams, stops the scheduler, detaches from servers and closes the database. */
  close(): Promise<void>;
}

export function startRequests(options: StartRequestsOptions): RequestsRuntime {
  const { app } = options;
  const db = openDatabase(options.dataFile);
  const store = new SqliteRequestStore(db);
  const audit = new Audit({ db, config: app.config, directory: app.directory, now: app.now, logger: app.log });
  const service = new RequestService({
    config: app.config,
    store,
    directory: app.directory,
    now: app.now,
    log: app.log,
    audit: audit.log,
    ...(options.newId ? { newId: options.newId } : {}),
  });
  const hub = new EventHub(app.config, app.log);
  service.onChange((request, changes) => {
    for (const change of changes) hub.publish(change, request);
  });
  const scheduler = new DeadlineScheduler({
    service,
    store,
    now: app.now,
    log: app.log,
    warn: (request, inMs) => hub.sendTo(request.requester.oid, { type: 'expiring', request: service.view(request), inMs }),
  });
  try {
    scheduler.start();
  } catch (error) {
    audit.close();
    db.close();
    throw error;
  }
  const events = new EventsEndpoint({
    hub,
    directory: app.directory,
    log: app.log,
    now: app.now,
    maxStreamsPerUser: callerLimits(app.config.limits).maxEventStreamsPerUser,
    ...(options.pingIntervalMs ? { pingIntervalMs: options.pingIntervalMs } : {}),
  });

  // Every session opening and closing is also an audit entry, in the same transaction as its row.
  const sessions = new AuditedSessionStore(db, new SqliteSessionStore(db), audit.log);
  const leftovers = sessions.closeLeftovers(app.now());
  if (leftovers > 0) app.log.warn('closed tunnel sessions the previous broker left open', { sessions: leftovers });
  const tunnels = new TunnelEndpoint({
    config: app.config,
    grants: store,
    directory: app.directory,
    sessions,
    now: app.now,
    log: app.log,
    // Every query of a postgres session goes to the audit log, in batches.
    observe: pgQueryCapture({ sink: audit.batch, log: app.log, now: app.now }),
    ...options.tunnel,
  });
  // Revokes (and expiries the sweep records) cut the grant's tunnels the moment they commit.
  service.onChange((request, changes) => tunnels.onRequestChange(request, changes));

  const onUpgrade: UpgradeListener = upgradeRouter(app, [events, tunnels, ...(options.upgradeRoutes ?? [])]);
  const servers = new Set<http.Server>();
  return {
    service,
    audit,
    hub,
    scheduler,
    events,
    tunnels,
    sessions,
    attach(server) {
      if (servers.has(server)) return;
      servers.add(server);
      server.on('upgrade', onUpgrade);
    },
    async close() {
      for (const server of servers) server.off('upgrade', onUpgrade);
      servers.clear();
      scheduler.stop();
      // Upgraded sockets are no longer the HTTP server's: its close() would wait on them forever.
      // Tunnels record their end in the database, so they close before it does.
      await Promise.all([events.close(), tunnels.close()]);
      // Batched entries are written before the database closes.
      audit.close();
      db.close();
    },
  };
}
