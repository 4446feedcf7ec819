// The metrics listener over a real socket: GET /metrics answers the exposition, anything else is
// refused with a code, and a busy port is refused naming --metrics.

import { afterEach, describe, expect, it } from 'vitest';
import { startMetricsListener, type MetricsListener } from '../../../broker/metrics/listener.js';
import { BrokerMetrics } from '../../../broker/metrics/metrics.js';

const listeners: MetricsListener[] = [];
afterEach(async () => {
  for (const listener of listeners.splice(0)) await listener.close();
});

async function started(): Promise<MetricsListener> {
  const listener = await startMetricsListener(new BrokerMetrics(), { host: '127.0.0.1', port: 0 });
  listeners.push(listener);
  return listener;
}

describe('startMetricsListener', () => {
  it('answers GET /metrics with the Prometheus text exposition', async () => {
    const { url } = await started();
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await res.text()).toContain('# TYPE access_tunnels_open gauge');
  });

  it('serves nothing else: another path is 404, another method 405', async () => {
    const { url } = await started();
    const other = await fetch(`${url}/v1/config`);
    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({ code: 'not_found', message: 'this listener serves only GET /metrics' });
    const post = await fetch(`${url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('refuses a port already in use, naming --metrics', async () => {
    const first = await started();
    const port = Number(new URL(first.url).port);
    await expect(startMetricsListener(new BrokerMetrics(), { host: '127.0.0.1', port })).rejects.toMatchObject({
      code: 'config_invalid',
      message: `--metrics: port ${port} on 127.0.0.1 is already in use — pick another`,
    });
  });
});
