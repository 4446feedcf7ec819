// The dev tenant against a web page on another site and against a flood, over real HTTP: the
// device-login form only approves a sign-in posted from its own page (same origin, and the form's
// token), a cross-site post to the token endpoints is refused, and a thousand unauthenticated
// /devicecode calls from one address leave room for everyone else's sign-in.

import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HttpTransport } from '../../../shared/http-transport.js';
import { FORM_TOKEN_LIFETIME_MS } from '../../../broker/devtenant/form-guard.js';
import { formToken, json, pollToken, serveDevTenant, startDeviceCode, type Served } from './harness.js';

let served: Served;

beforeEach(async () => {
  served = await serveDevTenant();
});
afterEach(async () => {
  await served.close();
});

const page = (): HttpTransport => new HttpTransport();

async function freshToken(): Promise<string> {
  return formToken((await page().request(`${served.browserOrigin}/devicelogin`)).body.toString('utf8'));
}

/** Posts the device-login form with `headers` (a browser's Origin, Referer). */
function postLogin(fields: Record<string, string>, headers: Record<string, string> = {}): ReturnType<HttpTransport['request']> {
  return page().request(`${served.browserOrigin}/devicelogin`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

async function stillPending(deviceCode: unknown): Promise<boolean> {
  return json(await pollToken(served, String(deviceCode))).error === 'authorization_pending';
}

describe('the device-login form against cross-site posts', () => {
  it('approves a post from its own page: the token, and the same Origin a browser sends', async () => {
    const started = await startDeviceCode(served);
    const res = await postLogin(
      { user_code: String(started.user_code), username: 'alice@contoso.dev', form_token: await freshToken() },
      { origin: served.browserOrigin },
    );
    expect(res.status).toBe(200);
    expect((await pollToken(served, String(started.device_code))).status).toBe(200);
  });

  it.each([
    ['without the form token', { form_token: '' }, {}, /without its token/],
    ['with a token this broker did not issue', { form_token: `${Date.now() + 60_000}.forged` }, {}, /not one this broker issued/],
    ['from a page on another origin', {}, { origin: 'https://evil.example' }, /another origin \(https:\/\/evil\.example\)/],
    ['from a page on another origin, named by Referer only', {}, { referer: 'https://evil.example/attack.html' }, /another origin \(https:\/\/evil\.example\)/],
    ['from a sandboxed page (Origin: null)', {}, { origin: 'null' }, /another origin \(null\)/],
  ])('refuses a post %s with 403 and approves nothing', async (_case, extra: Record<string, string>, headers: Record<string, string>, why) => {
    const started = await startDeviceCode(served);
    const fields = { user_code: String(started.user_code), username: 'admin@contoso.dev', form_token: await freshToken(), ...extra };
    const res = await postLogin(fields, headers);
    expect(res.status).toBe(403);
    expect(res.body.toString('utf8')).toMatch(why);
    expect(await stillPending(started.device_code)).toBe(true);
  });

  it('refuses a form token past its lifetime', async () => {
    const token = await freshToken();
    const started = await startDeviceCode(served);
    served.clock.now += FORM_TOKEN_LIFETIME_MS;
    const res = await postLogin({ user_code: String(started.user_code), username: 'alice@contoso.dev', form_token: token });
    expect(res.status).toBe(403);
    expect(res.body.toString('utf8')).toContain('The form has expired');
  });

  it('refuses a cross-site post to the devicecode endpoint, and starts no sign-in', async () => {
    const before = served.tenant.pendingSignIns;
    const res = await served.transport.request(`${served.tenant.authority}/oauth2/v2.0/devicecode`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ client_id: served.tenant.cliClientId, scope: served.tenant.api.scope }).toString(),
    });
    expect(res.status).toBe(403);
    expect(json(res)).toMatchObject({ code: 'cross_site_request' });
    expect(served.tenant.pendingSignIns).toBe(before);
  });
});

describe('the device codes against a flood', () => {
  /** POSTs /devicecode from the loopback address `from` (127.0.0.0/8 is all local on Linux). */
  function deviceCodeFrom(from: string): Promise<number> {
    const body = new URLSearchParams({ client_id: served.tenant.cliClientId, scope: served.tenant.api.scope }).toString();
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: served.port,
          localAddress: from,
          method: 'POST',
          path: `/${served.tenant.tenantId}/oauth2/v2.0/devicecode`,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  it('still starts a real sign-in after a thousand unauthenticated /devicecode calls from one address', async () => {
    const statuses: number[] = [];
    for (let batch = 0; batch < 20; batch++) statuses.push(...(await Promise.all(Array.from({ length: 50 }, () => deviceCodeFrom('127.0.0.2')))));
    const started = await startDeviceCode(served);
    expect(started.user_code).toEqual(expect.any(String));
    expect(statuses.filter((status) => status === 200).length).toBeLessThan(1000);
  });
});

// The page's own form is what a browser posts: prove the fixture reads it.
describe('the device-login page', () => {
  it('carries a form token in its form', async () => {
    expect(await freshToken()).toMatch(/^\d+\.[\w-]+$/);
  });
});
