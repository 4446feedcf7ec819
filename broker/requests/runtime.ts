// Wires access requests into a running broker: the SQLite store, the request service, the events
// hub and its WebSocket endpoint, and the deadline scheduler. `access-broker dev` and `serve` call
// startRequests once, set `app.requests` so the REST routes are served, and attach the upgrade
// router to their HTTP server.

import type http from 'node:http';
import type { BrokerApp } from '../app.js';
import { EventsEndpoint } from '../events/endpoint.js';
import { EventHub } from '../events/hub.js';
import { upgradeRouter, type UpgradeListener, type UpgradeRoute } from '../http/upgrade.js';
import { openDatabase } from '../store/database.js';
import { SqliteRequestStore } from '../store/request-store.js';
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
}

export interface RequestsRuntime {
  service: RequestService;
  hub: EventHub;
  scheduler: DeadlineScheduler;
  events: EventsEndpoint;
  /** Serves the WebSocket endpoints on `server`'s `upgrade` event. */
  attach(server: http.Server): void;
  /** Closes event streams, stops the scheduler, detaches from servers and closes the database. */
  close(): Promise<void>;
}

export function startRequests(options: StartRequestsOptions): RequestsRuntime {
  const { app } = options;
  const db = openDatabase(options.dataFile);
  const store = new SqliteRequestStore(db);
  const service = new RequestService({
    config: app.config,
    store,
    directory: app.directory,
    now: app.now,
    log: app.log,
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
    db.close();
    throw error;
  }
  const events = new EventsEndpoint({
    hub,
    directory: app.directory,
    log: app.log,
    now: app.now,
    ...(options.pingIntervalMs ? { pingIntervalMs: options.pingIntervalMs } : {}),
  });

  const onUpgrade: UpgradeListener = upgradeRouter(app, [events, ...(options.upgradeRoutes ?? [])]);
  const servers = new Set<http.Server>();
  return {
    service,
    hub,
    scheduler,
    events,
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
      await events.close();
      db.close();
    },
  };
}
