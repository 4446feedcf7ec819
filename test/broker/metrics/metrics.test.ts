// The broker's metrics as prom-client holds them: values read from the broker's state at scrape
// time, events counted as they happen, and store calls timed without changing what they do.

import { describe, expect, it } from 'vitest';
import { BrokerMetrics, type MetricsSources } from '../../../broker/metrics/metrics.js';
import type { AccessRequest } from '../../../broker/requests/types.js';
import type { SessionRecord } from '../../../broker/store/session-store.js';
import { VERSION } from '../../../shared/version.js';
import { T0 } from '../requests/harness.js';
import { pendingRequest } from '../store/sample-requests.js';

/** The samples of `name` now, as `labels → value` with labels written `k=v,…` (empty for none). */
async function samples(metrics: BrokerMetrics, name: string): Promise<Record<string, number>> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return Object.fromEntries(
    values.map(({ labels, value, ...rest }) => {
      const key = Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      return [`${'metricName' in rest ? `${String(rest.metricName)}:` : ''}${key}`, value];
    }),
  );
}

function sources(over: Partial<MetricsSources> = {}): MetricsSources {
  return {
    openRequests: () => [],
    tunnels: () => [],
    auditBacklog: () => ({ pending: 0, oldestPendingAt: null }),
    now: () => T0,
    ...over,
  };
}

function request(over: Partial<AccessRequest>): AccessRequest {
  return pendingRequest({
    id: 'r1',
    requester: { oid: 'alice', upn: 'alice@contoso.dev' },
    reason: null,
    ticket: null,
    approvalsRequired: 1,
    createdAt: T0,
    pendingUntil: T0 + 3_600_000,
    durationMs: 3_600_000,
    ...over,
  });
}

function session(over: Partial<SessionRecord>): SessionRecord {
  return {
    id: 's1',
    requestId: 'r1',
    user: { oid: 'alice', upn: 'alice@contoso.dev' },
    resource: 'prod-db',
    clientAddress: '127.0.0.1',
    target: 'db:5432',
    startedAt: T0,
    endedAt: T0 + 1000,
    bytesUp: 0,
    bytesDown: 0,
    reason: 'grantRevoked',
    detail: null,
    ...over,
  };
}

describe('BrokerMetrics', () => {
  it('reads open requests, live grants and open tunnels from the broker at scrape time', async () => {
    const metrics = new BrokerMetrics();
    let open = [{ resource: 'prod-db', state: 'approved' as const, count: 3, live: 2 }];
    metrics.attach(
      sources({
        openRequests: () => open,
        tunnels: () => [
          { resource: 'prod-db', bytesUp: 1, bytesDown: 2 },
          { resource: 'prod-db', bytesUp: 0, bytesDown: 0 },
        ],
      }),
    );
    expect(await samples(metrics, 'access_requests_open')).toEqual({ 'resource=prod-db,state=approved': 3 });
    expect(await samples(metrics, 'access_grants_live')).toEqual({ 'resource=prod-db': 2 });
    expect(await samples(metrics, 'access_tunnels_open')).toEqual({ 'resource=prod-db': 2 });
    open = [];
    expect(await samples(metrics, 'access_grants_live')).toEqual({});
  });

  it("counts a tunnel's bytes while it is open and keeps them once it closes: the total never goes back", async () => {
    const metrics = new BrokerMetrics();
    let live = [{ resource: 'prod-db', bytesUp: 100, bytesDown: 1000 }];
    metrics.attach(sources({ tunnels: () => live }));
    expect(await samples(metrics, 'access_tunnel_bytes_total')).toEqual({ 'resource=prod-db,direction=up': 100, 'resource=prod-db,direction=down': 1000 });
    live = [];
    metrics.tunnelClosed(session({ bytesUp: 150, bytesDown: 1200 }));
    expect(await samples(metrics, 'access_tunnel_bytes_total')).toEqual({ 'resource=prod-db,direction=up': 150, 'resource=prod-db,direction=down': 1200 });
    expect(await samples(metrics, 'access_tunnel_closed_total')).toEqual({ 'resource=prod-db,reason=grantRevoked': 1 });
  });

  it('counts the states requests enter and times decisions from creation, auto-approval included', async () => {
    const metrics = new BrokerMetrics();
    metrics.requestChanged(request({}), ['created']);
    metrics.requestChanged(request({ state: 'approved', grantedAt: T0 + 90_000 }), ['review_recorded', 'approved']);
    metrics.requestChanged(request({ id: 'r2', state: 'approved', grantedAt: T0, autoApproved: true }), ['created', 'auto_approved']);
    metrics.requestChanged(request({ id: 'r3', state: 'denied', closedAt: T0 + 30_000 }), ['review_recorded', 'denied']);
    expect(await samples(metrics, 'access_requests_total')).toEqual({
      'resource=prod-db,state=pending': 2,
      'resource=prod-db,state=approved': 2,
      'resource=prod-db,state=denied': 1,
    });
    const decisions = await samples(metrics, 'access_request_decision_seconds');
    expect(decisions['access_request_decision_seconds_sum:resource=prod-db,decision=approved']).toBe(90);
    expect(decisions['access_request_decision_seconds_count:resource=prod-db,decision=approved']).toBe(2);
    expect(decisions['access_request_decision_seconds_sum:resource=prod-db,decision=denied']).toBe(30);
  });

  it('counts a break-glass grant as approved at once, and notification tries by destination and outcome', async () => {
    const metrics = new BrokerMetrics();
    metrics.requestChanged(request({ state: 'approved', grantedAt: T0, breakGlass: true }), ['created', 'break_glass']);
    expect(await samples(metrics, 'access_requests_total')).toEqual({ 'resource=prod-db,state=pending': 1, 'resource=prod-db,state=approved': 1 });
    metrics.notificationTried('dba-slack', 'failed');
    metrics.notificationTried('dba-slack', 'failed');
    metrics.notificationTried('dba-slack', 'delivered');
    metrics.notificationTried('siem', 'given_up');
    expect(await samples(metrics, 'access_notifications_total')).toEqual({
      'destination=dba-slack,outcome=failed': 2,
      'destination=dba-slack,outcome=delivered': 1,
      'destination=siem,outcome=given_up': 1,
    });
  });

  it('counts Graph exchanges by status, and those without an answer or with an error status as errors', async () => {
    const metrics = new BrokerMetrics();
    metrics.graphCall({ status: 200, durationMs: 20 });
    metrics.graphCall({ status: 429, durationMs: 5 });
    metrics.graphCall({ status: null, durationMs: 5000 });
    expect(await samples(metrics, 'access_graph_requests_total')).toEqual({ 'status=200': 1, 'status=429': 1, 'status=network': 1 });
    expect(await samples(metrics, 'access_graph_errors_total')).toEqual({ '': 2 });
  });

  it('names the version it serves', async () => {
    expect(await samples(new BrokerMetrics(), 'access_build_info')).toEqual({ [`version=${VERSION}`]: 1 });
  });

  it('reports the audit backlog and the age of its oldest entry in seconds', async () => {
    const metrics = new BrokerMetrics();
    metrics.attach(sources({ auditBacklog: () => ({ pending: 7, oldestPendingAt: T0 - 2500 }) }));
    expect(await samples(metrics, 'access_audit_pending_entries')).toEqual({ '': 7 });
    expect(await samples(metrics, 'access_audit_append_lag_seconds')).toEqual({ '': 2.5 });
  });

  it("times every store call by name without changing it: private fields, results and errors are the store's own", async () => {
    class Store {
      #rows = ['a'];
      get size(): number {
        return this.#rows.length;
      }
      add(row: string): number {
        this.#rows.push(row);
        return this.#rows.length;
      }
      fail(): never {
        throw new Error('disk full');
      }
    }
    const metrics = new BrokerMetrics();
    const store = metrics.timed('requests', new Store());
    expect(store.add('b')).toBe(2);
    expect(store.size).toBe(2);
    expect(() => store.fail()).toThrow('disk full');
    const timed = await samples(metrics, 'access_store_operation_duration_seconds');
    expect(timed['access_store_operation_duration_seconds_count:store=requests,operation=add']).toBe(1);
    expect(timed['access_store_operation_duration_seconds_count:store=requests,operation=fail']).toBe(1);
  });
});
