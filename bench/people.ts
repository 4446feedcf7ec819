// Many signed-in people for the push and revoke measurements, without a CLI process each: the dev
// tenant's device-code flow over HTTP (start → the sign-in page's form → redeem), then the broker's
// API and events stream called with the token, as a script would.

import WebSocket from 'ws';
import type { BrokerConfigResponse, EventMessage, RequestView } from '../shared/wire.js';
import { submitDeviceLogin } from '../test/helpers/processes.js';

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

async function form(url: string, fields: Record<string, string>): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/** An access token for the broker's API as dev user `upn`. */
export async function devToken(brokerUrl: string, upn: string): Promise<string> {
  const config = (await (await fetch(`${brokerUrl}/v1/config`)).json()) as BrokerConfigResponse;
  const base = `${brokerUrl}/${config.tenantId}/oauth2/v2.0`;
  const started = await form(`${base}/devicecode`, { client_id: config.clientId, scope: config.scopes.join(' ') });
  const page = await submitDeviceLogin(brokerUrl, String(started['user_code']), upn);
  if (page.status !== 200) throw new Error(`the sign-in page refused ${upn}: ${page.status}`);
  const tokens = await form(`${base}/token`, { grant_type: DEVICE_CODE_GRANT, client_id: config.clientId, device_code: String(started['device_code']) });
  return String(tokens['access_token']);
}

/** A call to the broker's API as the token's owner; the parsed answer. */
export async function api<T>(brokerUrl: string, token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${brokerUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

export function createRequest(brokerUrl: string, token: string, resource: string): Promise<RequestView> {
  return api<RequestView>(brokerUrl, token, 'POST', '/v1/requests', { resource, duration: '1h', reason: 'bench' });
}

function wsUrl(brokerUrl: string, path: string): string {
  return `${brokerUrl.replace(/^http/, 'ws')}${path}`;
}

/** The token owner's events stream, open and subscribed (its hello received); `onMessage` sees what follows. */
export function openEvents(brokerUrl: string, token: string, onMessage: (message: EventMessage) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(brokerUrl, '/v1/events'), { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.once('error', reject);
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as EventMessage;
      if (message.type === 'hello') resolve(ws);
      else onMessage(message);
    });
  });
}

/** One tunnel to `resource` opened with the token, without the CLI. */
export function openTunnelSocket(brokerUrl: string, token: string, resource: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(brokerUrl, `/v1/tunnel?resource=${encodeURIComponent(resource)}`), {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`tunnel to ${resource} refused: ${res.statusCode}`)));
  });
}

/** The value at quantile `q` (0..1) of `values` (nearest rank). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
