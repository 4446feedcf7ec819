// The identity provider endpoints over raw HTTP: discovery, device code flow states and errors in
// Entra's format, the device-login page, refresh tokens and client credentials refusals.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HttpTransport } from '../../../shared/http-transport.js';
import { approveOnPage, clientCredentials, formToken, json, pollToken, postForm, serveDevTenant, signIn, startDeviceCode, type Served } from './harness.js';

let served: Served;

beforeEach(async () => {
  served = await serveDevTenant();
});
afterEach(async () => {
  await served.close();
});

const tokenUrl = (): string => `${served.tenant.authority}/oauth2/v2.0/token`;

/** The fields of every Entra error body, with the AADSTS number in front of the description. */
function expectEntraError(body: Record<string, unknown>, error: string, aadsts: number): void {
  expect(body).toMatchObject({
    error,
    error_description: expect.stringMatching(
      new RegExp(`^AADSTS${aadsts}: .+ Trace ID: \\S+ Correlation ID: \\S+ Timestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`),
    ),
    error_codes: [aadsts],
    timestamp: expect.any(String),
    trace_id: expect.any(String),
    correlation_id: expect.any(String),
  });
}

describe('discovery', () => {
  it('serves OpenID metadata with the public-origin issuer and https endpoints under the tenant', async () => {
    for (const path of ['/v2.0/.well-known/openid-configuration', '/.well-known/openid-configuration']) {
      const res = await served.transport.request(`${served.tenant.authority}${path}`);
      expect(res.status).toBe(200);
      expect(json(res)).toMatchObject({
        issuer: `${served.publicOrigin}/${served.tenant.tenantId}/v2.0`,
        authorization_endpoint: `${served.tenant.authority}/oauth2/v2.0/authorize`,
        token_endpoint: `${served.tenant.authority}/oauth2/v2.0/token`,
        device_authorization_endpoint: `${served.tenant.authority}/oauth2/v2.0/devicecode`,
        end_session_endpoint: `${served.tenant.authority}/oauth2/v2.0/logout`,
        jwks_uri: served.tenant.jwksUri,
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
  });

  it('serves the JWKS at both key paths', async () => {
    const v2 = json(await served.transport.request(served.tenant.jwksUri));
    const v1 = json(await served.transport.request(`${served.tenant.authority}/discovery/keys`));
    expect(v1).toEqual(v2);
    expect(v2.keys).toEqual([{ kty: 'RSA', use: 'sig', kid: expect.any(String), n: expect.any(String), e: 'AQAB', issuer: expect.any(String) }]);
    // 2048-bit modulus: 256 bytes.
    expect(Buffer.from((v2.keys as Array<{ n: string }>)[0]?.n as string, 'base64url')).toHaveLength(256);
  });

  it('answers invalid_tenant for another tenant id and leaves unknown paths to the broker', async () => {
    const other = await served.transport.request(`${served.publicOrigin}/00000000-1111-2222-3333-444444444444/v2.0/.well-known/openid-configuration`);
    expect(other.status).toBe(400);
    expectEntraError(json(other), 'invalid_tenant', 90002);
    for (const path of ['/v1/config', `/${served.tenant.tenantId}/oauth2/v2.0/nope`, '/', '/favicon.ico']) {
      const res = await served.transport.request(`${served.publicOrigin}${path}`);
      expect(res.status, path).toBe(404);
      expect(json(res)).toMatchObject({ code: 'not_found' });
    }
  });
});

describe('device code flow', () => {
  it("hands out an 8-letter user code, a device code and Entra's message", async () => {
    const started = await startDeviceCode(served);
    expect(started).toMatchObject({
      user_code: expect.stringMatching(/^[A-HJKMNP-Z]{8}$/),
      device_code: expect.any(String),
      verification_uri: `${served.browserOrigin}/devicelogin`,
      expires_in: 900,
      interval: 1,
      message: `To sign in, use a web browser to open the page ${served.browserOrigin}/devicelogin and enter the code ${String(started.user_code)} to authenticate.`,
    });
  });

  it('answers authorization_pending until the page approves, then tokens once', async () => {
    const started = await startDeviceCode(served);
    const pending = await pollToken(served, String(started.device_code));
    expect(pending.status).toBe(400);
    expectEntraError(json(pending), 'authorization_pending', 70016);

    expect((await approveOnPage(served, String(started.user_code), 'carol@contoso.dev')).status).toBe(200);
    const done = await pollToken(served, String(started.device_code));
    expect(done.status).toBe(200);
    expect(Object.keys(json(done)).sort()).toEqual(
      ['access_token', 'client_info', 'expires_in', 'ext_expires_in', 'id_token', 'refresh_token', 'scope', 'token_type'].sort(),
    );
    const again = await pollToken(served, String(started.device_code));
    expect(again.status).toBe(400);
    expectEntraError(json(again), 'invalid_grant', 70000);
  });

  it('answers expired_token once the code is older than 15 minutes', async () => {
    const started = await startDeviceCode(served);
    served.clock.now += 900_000;
    const res = await pollToken(served, String(started.device_code));
    expect(res.status).toBe(400);
    expectEntraError(json(res), 'expired_token', 70020);
  });

  it('refuses an unknown client id with unauthorized_client AADSTS700016', async () => {
    const res = await postForm(served.transport, `${served.tenant.authority}/oauth2/v2.0/devicecode`, {
      client_id: '11111111-2222-3333-4444-555555555555',
      scope: served.tenant.api.scope,
    });
    expect(res.status).toBe(400);
    expectEntraError(json(res), 'unauthorized_client', 700016);
    expect(json(res).error_description).toContain("'11111111-2222-3333-4444-555555555555'");
  });

  it('refuses an unknown scope with invalid_scope naming it', async () => {
    const res = await postForm(served.transport, `${served.tenant.authority}/oauth2/v2.0/devicecode`, {
      client_id: served.tenant.cliClientId,
      scope: `${served.tenant.api.scope} api://someone-else/read openid`,
    });
    expect(res.status).toBe(400);
    expectEntraError(json(res), 'invalid_scope', 70011);
    expect(json(res).error_description).toContain("'api://someone-else/read'");
  });

  it('echoes the client-request-id header as the correlation id', async () => {
    const res = await served.transport.request(tokenUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'client-request-id': 'corr-123' },
      body: 'grant_type=password',
    });
    expectEntraError(json(res), 'unsupported_grant_type', 70003);
    expect(json(res).correlation_id).toBe('corr-123');
  });
});

describe('device-login page', () => {
  const page = (): HttpTransport => new HttpTransport();

  it('shows a form with the code field and every dev user', async () => {
    const res = await page().request(`${served.browserOrigin}/devicelogin`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const html = res.body.toString();
    expect(html).toContain('<form method="post" action="/devicelogin">');
    expect(html).toContain('name="user_code"');
    for (const user of served.tenant.users()) expect(html).toContain(`name="username" value="${user.upn}"`);
    expect(html).toContain('Grace Overage');
    expect(html).toMatch(/sg-oncall, team-001, team-002, team-003 and 247 more/);
    expect(html).toContain('no groups');
  });

  it('accepts the code in any case and with a dash', async () => {
    const started = await startDeviceCode(served);
    const code = String(started.user_code);
    const typed = `${code.slice(0, 4).toLowerCase()}-${code.slice(4).toLowerCase()}`;
    const res = await approveOnPage(served, typed, 'ALICE@contoso.dev');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toContain('You can close this window');
    expect((await pollToken(served, String(started.device_code))).status).toBe(200);
  });

  it('answers 400 for a wrong code and keeps the sign-in pending', async () => {
    const started = await startDeviceCode(served);
    const res = await approveOnPage(served, 'ZZZZZZZZ', 'alice@contoso.dev');
    expect(res.status).toBe(400);
    expect(res.body.toString()).toContain('The code &quot;ZZZZZZZZ&quot; is not a pending sign-in');
    expect(json(await pollToken(served, String(started.device_code))).error).toBe('authorization_pending');
    expect((await approveOnPage(served, String(started.user_code), 'alice@contoso.dev')).status).toBe(200);
  });

  it('answers 400 for an unknown user and keeps the sign-in pending', async () => {
    const started = await startDeviceCode(served);
    const res = await approveOnPage(served, String(started.user_code), 'mallory@contoso.dev');
    expect(res.status).toBe(400);
    expect(res.body.toString()).toContain('There is no dev user &quot;mallory@contoso.dev&quot;');
    expect(json(await pollToken(served, String(started.device_code))).error).toBe('authorization_pending');
  });

  it('ends the sign-in on Decline: the next poll is authorization_declined AADSTS65004, then the code is gone', async () => {
    const started = await startDeviceCode(served);
    const form = await page().request(`${served.browserOrigin}/devicelogin`);
    const res = await postForm(page(), `${served.browserOrigin}/devicelogin`, {
      user_code: String(started.user_code),
      action: 'decline',
      form_token: formToken(form.body.toString()),
    });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toContain('You declined the sign-in');
    const declined = await pollToken(served, String(started.device_code));
    expectEntraError(json(declined), 'authorization_declined', 65004);
    expect(json(await pollToken(served, String(started.device_code))).error).toBe('invalid_grant');
    expect((await approveOnPage(served, String(started.user_code), 'alice@contoso.dev')).status).toBe(400);
  });

  it('blocks device code as Conditional Access does: the page says so, the poll gets invalid_grant AADSTS53003 message_only', async () => {
    served.tenant.setDeviceCodeBlocked(true);
    const started = await startDeviceCode(served);
    const res = await approveOnPage(served, String(started.user_code), 'alice@contoso.dev');
    expect(res.status).toBe(403);
    expect(res.body.toString()).toContain('You cannot access this right now');
    expect(res.body.toString()).toContain('access login --browser');
    const blocked = json(await pollToken(served, String(started.device_code)));
    expectEntraError(blocked, 'invalid_grant', 53003);
    expect(blocked.error_description).toContain('Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.');
    expect(blocked.suberror).toBe('message_only');
  });

  it('tells clients the device code lifetime it was opened with', async () => {
    await served.close();
    served = await serveDevTenant({ deviceCodeLifetimeSec: 30 });
    expect((await startDeviceCode(served)).expires_in).toBe(30);
  });

  it('answers 400 for an expired code', async () => {
    const started = await startDeviceCode(served);
    served.clock.now += 901_000;
    const res = await approveOnPage(served, String(started.user_code), 'alice@contoso.dev');
    expect(res.status).toBe(400);
    expect(res.body.toString()).toContain('has expired');
  });

  it('escapes what it echoes and what the directory holds', async () => {
    await served.close();
    served = await serveDevTenant({
      directory: {
        groups: [{ name: '<b>ops</b>', memberOf: [] }],
        users: [{ upn: 'x@contoso.dev', name: '<script>alert(1)</script>', groups: ['<b>ops</b>'] }],
      },
    });
    const html = (await page().request(`${served.browserOrigin}/devicelogin`)).body.toString();
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;b&gt;ops&lt;/b&gt;');
    const echoed = (await approveOnPage(served, '"><img src=x>', 'x@contoso.dev')).body.toString();
    expect(echoed).not.toContain('<img');
  });

  it('refuses a body larger than the limit with 413', async () => {
    const res = await page().request(`${served.browserOrigin}/devicelogin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `user_code=${'A'.repeat(70_000)}`,
    });
    expect(res.status).toBe(413);
  });
});

describe('refresh tokens', () => {
  it('refreshes with the refresh token, for the same user, with a new refresh token', async () => {
    const tokens = await signIn(served, 'dave@contoso.dev');
    const res = await postForm(served.transport, tokenUrl(), {
      grant_type: 'refresh_token',
      client_id: served.tenant.cliClientId,
      refresh_token: tokens.refresh_token as string,
      scope: `${served.tenant.api.scope} openid profile offline_access`,
    });
    expect(res.status).toBe(200);
    expect(json(res).refresh_token).toEqual(expect.any(String));
    const claims = JSON.parse(Buffer.from(String(json(res).access_token).split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
    expect(claims.preferred_username).toBe('dave@contoso.dev');
  });

  it('refuses a refresh token after its 90 days', async () => {
    const tokens = await signIn(served, 'dave@contoso.dev');
    served.clock.now += 91 * 24 * 3600_000;
    const res = await postForm(served.transport, tokenUrl(), {
      grant_type: 'refresh_token',
      client_id: served.tenant.cliClientId,
      refresh_token: tokens.refresh_token as string,
    });
    expect(res.status).toBe(400);
    expectEntraError(json(res), 'invalid_grant', 700082);
  });

  it('refuses a refresh token this tenant did not issue', async () => {
    const res = await postForm(served.transport, tokenUrl(), {
      grant_type: 'refresh_token',
      client_id: served.tenant.cliClientId,
      refresh_token: 'not-a-token',
    });
    expect(res.status).toBe(400);
    expect(json(res).error).toBe('invalid_grant');
  });

  it('refuses the refresh grant to a confidential client', async () => {
    const tokens = await signIn(served, 'dave@contoso.dev');
    const res = await postForm(served.transport, tokenUrl(), {
      grant_type: 'refresh_token',
      client_id: served.tenant.graphApp.clientId,
      refresh_token: tokens.refresh_token as string,
    });
    expect(res.status).toBe(400);
    expect(json(res).error).toBe('invalid_client');
  });
});

describe('client credentials refusals', () => {
  it('refuses a wrong secret with 401 invalid_client AADSTS7000215', async () => {
    const res = await clientCredentials(served, served.tenant.graphApp.clientId, 'wrong', 'https://graph.microsoft.com/.default');
    expect(res.status).toBe(401);
    expectEntraError(json(res), 'invalid_client', 7000215);
  });

  it('refuses the common and organizations tenants like Entra', async () => {
    for (const alias of ['common', 'organizations']) {
      const res = await postForm(served.transport, `${served.publicOrigin}/${alias}/oauth2/v2.0/token`, {
        grant_type: 'client_credentials',
        client_id: served.tenant.graphApp.clientId,
        client_secret: served.tenant.graphApp.clientSecret,
        scope: 'https://graph.microsoft.com/.default',
      });
      expect(res.status).toBe(400);
      expectEntraError(json(res), 'invalid_request', 50059);
    }
  });

  it('refuses a scope without /.default and an unknown resource', async () => {
    const { clientId, clientSecret } = served.tenant.graphApp;
    const noDefault = await clientCredentials(served, clientId, clientSecret, 'https://graph.microsoft.com/User.Read.All');
    expectEntraError(json(noDefault), 'invalid_scope', 1002012);
    const unknown = await clientCredentials(served, clientId, clientSecret, 'api://nobody/.default');
    expectEntraError(json(unknown), 'invalid_resource', 500011);
  });

  it('refuses the public CLI client', async () => {
    const res = await clientCredentials(served, served.tenant.cliClientId, 'anything', 'https://graph.microsoft.com/.default');
    expect(res.status).toBe(401);
    expect(json(res).error).toBe('invalid_client');
  });
});

describe('claims requests (a step-up sign-in)', () => {
  const MFA = '{"access_token":{"amr":{"essential":true,"values":["mfa"]},"acrs":{"essential":true,"value":"c1"}}}';
  const payload = (token: unknown): Record<string, unknown> =>
    JSON.parse(Buffer.from(String(token).split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;

  async function startWithClaims(claims: string): Promise<Record<string, unknown>> {
    const res = await postForm(served.transport, `${served.tenant.authority}/oauth2/v2.0/devicecode`, {
      client_id: served.tenant.cliClientId,
      scope: `${served.tenant.api.scope} openid profile offline_access`,
      claims,
    });
    expect(res.status).toBe(200);
    return json(res);
  }

  it('gives a plain sign-in amr pwd and auth_time, no acrs', async () => {
    const claims = payload((await signIn(served, 'dave@contoso.dev')).access_token);
    expect(claims).toMatchObject({ amr: ['pwd'], auth_time: expect.any(Number) });
    expect(claims.acrs).toBeUndefined();
  });

  it('gives a user with MFA amr mfa and the context asked for, and a refresh keeps them', async () => {
    const started = await startWithClaims(MFA);
    expect((await approveOnPage(served, String(started.user_code), 'alice@contoso.dev')).status).toBe(200);
    const tokens = json(await pollToken(served, String(started.device_code)));
    expect(payload(tokens.access_token)).toMatchObject({ amr: ['pwd', 'mfa'], acrs: ['c1'] });
    const refreshed = await postForm(served.transport, tokenUrl(), {
      grant_type: 'refresh_token',
      client_id: served.tenant.cliClientId,
      refresh_token: String(tokens.refresh_token),
      scope: `${served.tenant.api.scope} openid profile offline_access`,
      claims: MFA,
    });
    expect(refreshed.status).toBe(200);
    expect(payload(json(refreshed).access_token)).toMatchObject({ amr: ['pwd', 'mfa'], acrs: ['c1'], auth_time: payload(tokens.access_token).auth_time });
  });

  it('refuses a user without MFA on the page, and the next poll ends the sign-in with AADSTS50079', async () => {
    const started = await startWithClaims(MFA);
    const page = await approveOnPage(served, String(started.user_code), 'dave@contoso.dev');
    expect(page.status).toBe(400);
    expect(page.body.toString()).toContain('dave@contoso.dev has no second factor registered');
    const poll = await pollToken(served, String(started.device_code));
    expectEntraError(json(poll), 'invalid_grant', 50079);
  });

  it('will not raise a password sign-in to MFA by refresh: interaction_required (AADSTS50076)', async () => {
    const tokens = await signIn(served, 'alice@contoso.dev');
    const res = await postForm(served.transport, tokenUrl(), {
      grant_type: 'refresh_token',
      client_id: served.tenant.cliClientId,
      refresh_token: tokens.refresh_token as string,
      scope: `${served.tenant.api.scope} openid profile offline_access`,
      claims: MFA,
    });
    expectEntraError(json(res), 'interaction_required', 50076);
  });

  it('refuses a claims parameter that is not JSON', async () => {
    const res = await postForm(served.transport, `${served.tenant.authority}/oauth2/v2.0/devicecode`, {
      client_id: served.tenant.cliClientId,
      scope: `${served.tenant.api.scope} openid`,
      claims: '{nope',
    });
    expectEntraError(json(res), 'invalid_request', 90014);
  });
});
