// A dev tenant served the way `access-broker dev` serves it: one plain-HTTP loopback server whose
// handler asks the tenant first and answers 404 otherwise; clients reach its https public origin
// through HttpTransport's plaintextOrigins.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@microsoft/microsoft-graph-client';
import { DevTenant, type DevTenantOptions } from '../../../broker/devtenant/dev-tenant.js';
import { DEV_DIRECTORY } from '../../../broker/devtenant/seed.js';
import { secretCredential } from '../../../shared/app-token.js';
import { graphAppClient } from '../../../broker/identity/graph-app-client.js';
import { HttpTransport, type HttpResponse } from '../../../shared/http-transport.js';
import { preGeneratedSigningKey } from '../../helpers/signing-keys.js';

export interface Served {
  tenant: DevTenant;
  transport: HttpTransport;
  publicOrigin: string;
  browserOrigin: string;
  port: number;
  /** A settable clock (ms) the tenant reads. */
  clock: { now: number };
  close(): Promise<void>;
}

export async function serveDevTenant(options: Partial<Omit<DevTenantOptions, 'publicOrigin' | 'browserOrigin' | 'now'>> = {}): Promise<Served> {
  let tenant: DevTenant | undefined;
  const server = http.createServer((req, res) => {
    const handled = tenant ? tenant.handle(req, res) : Promise.resolve(false);
    void handled.then(
      (done) => {
        if (!done) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: 'not_found', message: `no route ${req.url}` }));
        }
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(error));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const publicOrigin = `https://127.0.0.1:${port}`;
  const browserOrigin = `http://127.0.0.1:${port}`;
  const clock = { now: Date.now() };
  tenant = await DevTenant.open({
    directory: DEV_DIRECTORY,
    newSigningKey: preGeneratedSigningKey,
    ...options,
    publicOrigin,
    browserOrigin,
    now: () => clock.now,
  });
  return {
    tenant,
    transport: new HttpTransport({ plaintextOrigins: [publicOrigin] }),
    publicOrigin,
    browserOrigin,
    port,
    clock,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function postForm(transport: HttpTransport, url: string, fields: Record<string, string>): Promise<HttpResponse> {
  return transport.request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
}

export function json(res: HttpResponse): Record<string, unknown> {
  return JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
}

/** Completes a pending device sign-in on the device-login page, as a person would: opens it, then submits its form. */
export async function approveOnPage(served: Served, userCode: string, username: string): Promise<HttpResponse> {
  // The page is opened at the browser (http) origin; a plain transport reaches it.
  const page = new HttpTransport();
  const form = await page.request(`${served.browserOrigin}/devicelogin`);
  return postForm(page, `${served.browserOrigin}/devicelogin`, { user_code: userCode, username, form_token: formToken(form.body.toString('utf8')) });
}

/** The token in a device-login page's form (broker/devtenant/form-guard.ts). */
export function formToken(html: string): string {
  const token = /name="form_token" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error('the device-login page has no form token');
  return token;
}

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** Starts a device code sign-in for the CLI client over raw HTTP; returns the /devicecode answer. */
export async function startDeviceCode(served: Served, scope = `${served.tenant.api.scope} openid profile offline_access`): Promise<Record<string, unknown>> {
  const res = await postForm(served.transport, `${served.tenant.authority}/oauth2/v2.0/devicecode`, {
    client_id: served.tenant.cliClientId,
    scope,
  });
  if (res.status !== 200) throw new Error(`devicecode answered ${res.status}: ${res.body.toString()}`);
  return json(res);
}

export function pollToken(served: Served, deviceCode: string, clientId = served.tenant.cliClientId): Promise<HttpResponse> {
  return postForm(served.transport, `${served.tenant.authority}/oauth2/v2.0/token`, {
    grant_type: DEVICE_CODE_GRANT,
    client_id: clientId,
    device_code: deviceCode,
  });
}

/** A whole device code sign-in over raw HTTP; returns the token endpoint's success body. */
export async function signIn(served: Served, upn: string): Promise<Record<string, string>> {
  const started = await startDeviceCode(served);
  const page = await approveOnPage(served, String(started.user_code), upn);
  if (page.status !== 200) throw new Error(`devicelogin answered ${page.status}: ${page.body.toString()}`);
  const res = await pollToken(served, String(started.device_code));
  if (res.status !== 200) throw new Error(`token answered ${res.status}: ${res.body.toString()}`);
  return json(res) as Record<string, string>;
}

export async function clientCredentials(served: Served, clientId: string, clientSecret: string, scope: string): Promise<HttpResponse> {
  return postForm(served.transport, `${served.tenant.authority}/oauth2/v2.0/token`, {
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: clientSecret,
    scope,
  });
}

/** A Graph client acting as one of the dev tenant's apps (client credentials), as the broker builds one. */
export function graphClientFor(served: Served, app: { clientId: string; clientSecret: string }): Client {
  return graphAppClient(
    {
      clientId: app.clientId,
      credential: secretCredential(app.clientSecret),
      authority: served.tenant.authority,
      baseUrl: served.tenant.graphBaseUrl,
      customAuthority: true,
    },
    served.transport,
  );
}
