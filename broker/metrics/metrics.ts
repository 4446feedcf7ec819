// The broker's Prometheus metrics (prom-client), served by metrics/listener.ts on their own
// listener. What can be read from the broker's state when scraped is read then (open requests and
// live grants from the store, open tunnels and their bytes from the tunnel endpoint, the audit
// batch's backlog), so no count drifts from the truth; only events are counted as they happen
// (request transitions, decisions, tunnel ends, Graph exchanges, store calls).
//
// Names and labels (all prefixed `access_`):
//   requests_total{resource,state}           transitions into each state since start (counter)
//   requests_open{resource,state}            pending / approved requests in the store now
//   grants_live{resource}                    approved and not yet expired now
//   request_decision_seconds{resource,decision}  creation → approval or denial (histogram)
//   tunnels_open{resource}                   open tunnels now
//   tunnel_bytes_total{resource,direction}   bytes relayed, up (client → target) and down
//   tunnel_closed_total{resource,reason}     tunnel ends by reason (grantRevoked, grantExpired, clientClosed…)
//   graph_requests_total{status}             HTTP exchanges with Microsoft Graph ("network" when no answer)
//   graph_request_duration_seconds           their duration (histogram)
//   graph_errors_total                       exchanges with no answer or a 4xx/5xx status
//   audit_pending_entries                    batched audit entries not yet written
//   audit_append_lag_seconds                 age of the oldest of them (0 when none waits)
//   store_operation_duration_seconds{store,operation}  each store call (histogram)
//   build_info{version}                      always 1
// plus prom-client's default process metrics (CPU, memory, event loop lag, file descriptors) once served.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GraphCall } from '../../shared/graph-middleware.js';
import { VERSION } from '../../shared/version.js';
import type { AccessRequest, RequestChange, RequestState } from '../requests/types.js';
import type { OpenCount } from '../store/request-store.js';
import type { SessionRecord } from '../store/session-store.js';

/** Request changes that move a request into a state, and that state. */
const STATE_OF_CHANGE: Partial<Record<RequestChange, RequestState>> = {
  created: 'pending',
  auto_approved: 'approved',
  approved: 'approved',
  // A break-glass grant is approved at once, by nobody.
  break_glass: 'approved',
  denied: 'denied',
  cancelled: 'cancelled',
  timed_out: 'timed_out',
  expired: 'expired',
  revoked: 'revoked',
};

/** Decisions take from seconds (auto-approval, an approver at the keyboard) to hours (a pending request's TTL). */
const DECISION_BUCKETS_SECONDS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 86_400];
/** A Graph exchange: tens of milliseconds when healthy, seconds when throttled or failing. */
const GRAPH_BUCKETS_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** A SQLite call: microseconds for a read, milliseconds for a commit, more under a stuck disk. */
const STORE_BUCKETS_SECONDS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1];

/** What the broker's state is read from at scrape time (assemble.ts hands the real parts). */
export interface MetricsSources {
  /** Open requests and live grants per resource (SqlRequestStore.countOpen). */
  openRequests(now: number): OpenCount[];
  /** The open tunnels with their resource and bytes so far (TunnelEndpoint.status). */
  tunnels(): ReadonlyArray<{ resource: string; bytesUp: number; bytesDown: number }>;
  /** The audit batch's backlog (BatchedAppender). */
  auditBacklog(): { pending: number; oldestPendingAt: number | null };
  now(): number;
}

export class BrokerMetrics {
  readonly registry = new Registry();
  #sources: MetricsSources | null = null;
  #processMetrics = false;
  /** Bytes of tunnels that have closed, per resource; the open ones are read at scrape time. */
  readonly #closedBytes = new Map<string, { up: number; down: number }>();
  readonly #transitions: Counter<'resource' | 'state'>;
  readonly #decisions: Histogram<'resource' | 'decision'>;
  readonly #tunnelClosed: Counter<'resource' | 'reason'>;
  readonly #graphRequests: Counter<'status'>;
  readonly #graphDuration: Histogram;
  readonly #graphErrors: Counter;
  readonly #storeDuration: Histogram<'store' | 'operation'>;
  readonly #notifications: Counter<'destination' | 'outcome'>;
  /**
   * What one scrape read from the broker's state, so the gauges that share a source (requests and
   * live grants: one store query; open tunnels and their bytes) read it once; null outside a scrape.
   */
  #scraped: { openCounts?: OpenCount[]; tunnels?: ReturnType<MetricsSources['tunnels']> } | null = null;

  constructor() {
    const registers = [this.registry];
    this.#transitions = new Counter({
      name: 'access_requests_total',
      help: 'Requests that entered each state since the broker started (pending at creation).',
      labelNames: ['resource', 'state'],
      registers,
    });
    this.#decisions = new Histogram({
      name: 'access_request_decision_seconds',
      help: 'Time from a request being made to its approval (by people or policy) or denial.',
      labelNames: ['resource', 'decision'],
      buckets: DECISION_BUCKETS_SECONDS,
      registers,
    });
    this.#tunnelClosed = new Counter({
      name: 'access_tunnel_closed_total',
      help: 'Tunnels that ended, by resource and reason (grantRevoked, grantExpired, membershipLost, goingAway, clientClosed, …).',
      labelNames: ['resource', 'reason'],
      registers,
    });
    this.#graphRequests = new Counter({
      name: 'access_graph_requests_total',
      help: 'HTTP exchanges with Microsoft Graph by status ("network" when no answer came); a throttled retry is another exchange.',
      labelNames: ['status'],
      registers,
    });
    this.#graphDuration = new Histogram({
      name: 'access_graph_request_duration_seconds',
      help: 'Duration of each HTTP exchange with Microsoft Graph.',
      buckets: GRAPH_BUCKETS_SECONDS,
      registers,
    });
    this.#graphErrors = new Counter({
      name: 'access_graph_errors_total',
      help: 'Exchanges with Microsoft Graph that got no answer or a 4xx/5xx status.',
      registers,
    });
    this.#notifications = new Counter({
      name: 'access_notifications_total',
      help: 'Tries to deliver a notification, by destination and outcome (delivered, failed: retried later, given_up).',
      labelNames: ['destination', 'outcome'],
      registers,
    });
    this.#storeDuration = new Histogram({
      name: 'access_store_operation_duration_seconds',
      help: 'Duration of each call into the store (SQLite), by store and operation.',
      labelNames: ['store', 'operation'],
      buckets: STORE_BUCKETS_SECONDS,
      registers,
    });

    new Gauge({ name: 'access_build_info', help: 'Always 1; the version of the broker serving these metrics.', labelNames: ['version'], registers }).set(
      { version: VERSION },
      1,
    );

    // Read at scrape time from the broker's state.
    const metrics = this;
    new Gauge({
      name: 'access_requests_open',
      help: 'Pending and approved requests in the store now, by resource.',
      labelNames: ['resource', 'state'],
      registers,
      collect() {
        this.reset();
        const sources = metrics.#sources;
        if (!sources) return;
        for (const { resource, state, count } of metrics.#openCounts(sources)) this.set({ resource, state }, count);
      },
    });
    new Gauge({
      name: 'access_grants_live',
      help: 'Approved grants that have not expired yet, by resource.',
      labelNames: ['resource'],
      registers,
      collect() {
        this.reset();
        const sources = metrics.#sources;
        if (!sources) return;
        for (const { resource, live } of metrics.#openCounts(sources)) if (live > 0) this.set({ resource }, live);
      },
    });
    new Gauge({
      name: 'access_tunnels_open',
      help: 'Open tunnels now, by resource.',
      labelNames: ['resource'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const { resource } of metrics.#openTunnels()) counts.set(resource, (counts.get(resource) ?? 0) + 1);
        for (const [resource, count] of counts) this.set({ resource }, count);
      },
    });
    new Counter({
      name: 'access_tunnel_bytes_total',
      help: 'Bytes relayed through tunnels since the broker started, by resource and direction (up: client to target; down: target to client).',
      labelNames: ['resource', 'direction'],
      registers,
      collect() {
        // Closed tunnels' bytes plus the open ones' so far: a tunnel's bytes move from one to the
        // other when it closes, so the sum only grows.
        const totals = new Map([...metrics.#closedBytes].map(([resource, bytes]) => [resource, { ...bytes }]));
        for (const { resource, bytesUp, bytesDown } of metrics.#openTunnels()) {
          const total = totals.get(resource) ?? { up: 0, down: 0 };
          total.up += bytesUp;
          total.down += bytesDown;
          totals.set(resource, total);
        }
        this.reset();
        for (const [resource, { up, down }] of totals) {
          this.inc({ resource, direction: 'up' }, up);
          this.inc({ resource, direction: 'down' }, down);
        }
      },
    });
    new Gauge({
      name: 'access_audit_pending_entries',
      help: 'Batched audit entries (Postgres queries) waiting to be written.',
      registers,
      collect() {
        this.set(metrics.#sources?.auditBacklog().pending ?? 0);
      },
    });
    new Gauge({
      name: 'access_audit_append_lag_seconds',
      help: 'Age of the oldest audit entry waiting to be written (0 when none waits).',
      registers,
      collect() {
        const sources = metrics.#sources;
        const oldest = sources?.auditBacklog().oldestPendingAt ?? null;
        this.set(sources && oldest !== null ? Math.max(0, sources.now() - oldest) / 1000 : 0);
      },
    });
  }

  /**
   * Adds prom-client's process metrics (CPU, memory, event loop lag, file descriptors, GC). Only
   * when someone scrapes (metrics/listener.ts): they keep an event-loop monitor running.
   */
  includeProcessMetrics(): void {
    if (this.#processMetrics) return;
    this.#processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /** Where scrape-time values are read from; called once the broker is assembled. */
  attach(sources: MetricsSources): void {
    this.#sources = sources;
  }

  /** A request changed (RequestService.onChange): count the states it entered and time its decision. */
  requestChanged(request: AccessRequest, changes: readonly RequestChange[]): void {
    for (const change of changes) {
      const state = STATE_OF_CHANGE[change];
      if (state) this.#transitions.inc({ resource: request.resource, state });
    }
    const decidedAt = changes.includes('denied') ? request.closedAt : changes.some((c) => c === 'approved' || c === 'auto_approved') ? request.grantedAt : null;
    if (decidedAt !== null) {
      const decision = changes.includes('denied') ? 'denied' : 'approved';
      this.#decisions.observe({ resource: request.resource, decision }, Math.max(0, decidedAt - request.createdAt) / 1000);
    }
  }

  /** One try to deliver a notification (notifications/dispatcher.ts). */
  readonly notificationTried = (destination: string, outcome: 'delivered' | 'failed' | 'given_up'): void => {
    this.#notifications.inc({ destination, outcome });
  };

  /** A tunnel ended (TunnelEndpoint.onSession): its reason, and its bytes move to the closed total. */
  tunnelClosed(session: SessionRecord): void {
    this.#tunnelClosed.inc({ resource: session.resource, reason: session.reason ?? 'unknown' });
    const bytes = this.#closedBytes.get(session.resource) ?? { up: 0, down: 0 };
    bytes.up += session.bytesUp;
    bytes.down += session.bytesDown;
    this.#closedBytes.set(session.resource, bytes);
  }

  /** One exchange with Graph (shared/graph-middleware.ts): pass as buildIdentity's observeGraph. */
  readonly graphCall = (call: GraphCall): void => {
    this.#graphRequests.inc({ status: call.status === null ? 'network' : String(call.status) });
    this.#graphDuration.observe(call.durationMs / 1000);
    if (call.status === null || call.status >= 400) this.#graphErrors.inc();
  };

  /**
   * `store` with every method call timed into access_store_operation_duration_seconds under
   * `name`. The methods run on the store itself (its private fields stay reachable).
   */
  timed<T extends object>(name: string, store: T): T {
    const histogram = this.#storeDuration;
    return new Proxy(store, {
      get(target, property) {
        // Read from the store itself, not through the proxy: its getters may use private fields.
        const value: unknown = Reflect.get(target, property);
        if (typeof value !== 'function' || typeof property !== 'string' || property === 'constructor') return value;
        return (...args: unknown[]): unknown => {
          const started = performance.now();
          try {
            return Reflect.apply(value, target, args);
          } finally {
            histogram.observe({ store: name, operation: property }, (performance.now() - started) / 1000);
          }
        };
      },
    });
  }

  /** The exposition: what `GET /metrics` answers. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    this.#scraped = {};
    try {
      return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    } finally {
      this.#scraped = null;
    }
  }

  #openCounts(sources: MetricsSources): OpenCount[] {
    if (!this.#scraped) return sources.openRequests(sources.now());
    this.#scraped.openCounts ??= sources.openRequests(sources.now());
    return this.#scraped.openCounts;
  }

  #openTunnels(): ReturnType<MetricsSources['tunnels']> {
    const tunnels = (): ReturnType<MetricsSources['tunnels']> => this.#sources?.tunnels() ?? [];
    if (!this.#scraped) return tunnels();
    this.#scraped.tunnels ??= tunnels();
    return this.#scraped.tunnels;
  }
}
