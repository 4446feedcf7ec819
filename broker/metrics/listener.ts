// `GET /metrics` on a listener of its own (`--metrics [HOST:]PORT`), never on the broker's public
// port: the metrics name every resource and count requests and tunnels, so who may read them is
// decided by where this listener binds (loopback by default, for a local Prometheus agent or a
// sidecar), not by a token an exporter would have to hold. Off unless asked for.

import http from 'node:http';
import { AccessError } from '../../shared/errors.js';
import { isLoopbackHost } from '../../shared/http-transport.js';
import { sendError } from '../http/respond.js';
import { listenerOrigin } from '../http/tls.js';
import { closeServer, listen } from '../server.js';
import type { Logger } from '../log.js';
import type { ListenAddress } from '../operations.js';
import type { BrokerMetrics } from './metrics.js';

export const METRICS_PATH = '/metrics';

export interface MetricsListener {
  /** http://HOST:PORT of the listener. */
  url: string;
  host: string;
  close(): Promise<void>;
}

export async function startMetricsListener(metrics: BrokerMetrics, address: { host: string; port: number }): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://metrics.invalid').pathname;
    if (path !== METRICS_PATH) {
      sendError(res, new AccessError('not_found', `this listener serves only GET ${METRICS_PATH}`));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendError(res, new AccessError('method_not_allowed', `${METRICS_PATH} answers GET only`));
      return;
    }
    metrics.scrape().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (error: unknown) =>
        sendError(res, new AccessError('internal', `the metrics could not be collected: ${error instanceof Error ? error.message : String(error)}`)),
    );
  });
  let bound;
  try {
    bound = await listen(server, address.port, address.host);
  } catch (error) {
    // listen's own message names --port, the broker's flag.
    if (error instanceof AccessError && error.code === 'config_invalid') {
      throw new AccessError('config_invalid', `--metrics: port ${address.port} on ${address.host} is already in use — pick another`, { cause: error });
    }
    throw new AccessError(
      'config_invalid',
      `--metrics: cannot listen on ${address.host}:${address.port}: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
  return { url: listenerOrigin(bound, 'http'), host: bound.address, close: () => closeServer(server) };
}

/**
 * Starts the metrics listener when `address` is given; warns when it is reachable beyond this
 * machine, since the metrics name resources and count their use and the listener asks no token.
 */
export async function serveMetrics(metrics: BrokerMetrics, address: ListenAddress | null, log: Logger): Promise<MetricsListener | null> {
  if (!address) return null;
  metrics.includeProcessMetrics();
  const listener = await startMetricsListener(metrics, address);
  log.info('metrics listening', { url: `${listener.url}/metrics` });
  if (!isLoopbackHost(listener.host)) {
    log.warn('metrics are served without authentication on a non-loopback address: they name resources and count their use; limit who reaches it (firewall)', {
      url: `${listener.url}/metrics`,
    });
  }
  return listener;
}
