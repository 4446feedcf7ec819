// The interactive sign-in of the dev tenant over raw HTTP, as a browser and a client drive it: the
// authorize page (pick a user or Decline), the answer posted to the loopback redirect, and the
// authorization_code grant with its PKCE, redirect, client and one-time checks, in Entra's words.

import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { s256Challenge } from '../../../broker/devtenant/auth-codes.js';
import { HttpTransport, type HttpResponse } from '../../../shared/http-transport.js';
import { json, postForm, serveDevTenant, type Served } from './harness.js';

let served: Served;
const browser = new HttpTransport();

beforeEach(async () => {
  served = await serveDevTenant();
});
afterEach(async () => {
  await served.close();
});

const REDIRECT = 'http://localhost:51234';

function unescapeHtml(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The hidden fields of the first form in a page, by name. */
function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[unescapeHtml(match[1] as string)] = unescapeHtml(match[2] as string);
  return fields;
}

function formAction(html: string): string {
  return unescapeHtml(/<form method="post" action="([^"]+)"/.exec(html)?.[1] ?? '');
}

interface Authorize {
  verifier: string;
  url: string;
}

/** An authorize URL like MSAL's (form_post, PKCE S256), with `overrides` replacing or removing (null) parameters. */
function authorizeRequest(overrides: Record<string, string | null> = {}): Authorize {
  const verifier = randomBytes(32).toString('base64url');
  const params: Record<string, string | null> = {
    client_id: served.tenant.cliClientId,
    scope: `${served.tenant.api.scope} openid profile offline_access`,
    redirect_uri: REDIRECT,
    response_mode: 'form_post',
    response_type: 'code',
    state: 'state-123',
    code_challenge: s256Challenge(verifier),
    code_challenge_method: 'S256',
    ...overrides,
  };
  const url = new URL(`${served.browserOrigin}/${served.tenant.tenantId}/oauth2/v2.0/authorize`);
  for (const [key, value] of Object.entries(params)) if (value !== null) url.searchParams.set(key, value);
  return { verifier, url: url.toString() };
}

/** Opens the page and submits its form as a person pressing Sign in (with `username`) or Decline. */
async function submitPage(request: Authorize, choice: { username: string } | 'decline'): Promise<HttpResponse> {
  const page = await browser.request(request.url);
  expect(page.status).toBe(200);
  const html = page.body.toString('utf8');
  const fields = { ...hiddenFields(html), ...(choice === 'decline' ? { action: 'decline' } : { action: 'sign_in', username: choice.username }) };
  return postForm(browser, `${served.browserOrigin}${formAction(html)}`, fields);
}

/** What the page posts to the redirect URI (the form_post answer). */
async function signInOnPage(request: Authorize, username = 'alice@contoso.dev'): Promise<Record<string, string>> {
  const answer = await submitPage(request, { username });
  expect(answer.status).toBe(200);
  const html = answer.body.toString('utf8');
  expect(formAction(html)).toBe(REDIRECT);
  return hiddenFields(html);
}

function redeem(fields: Record<string, string>): Promise<HttpResponse> {
  return postForm(served.transport, `${served.tenant.authority}/oauth2/v2.0/token`, {
    grant_type: 'authorization_code',
    client_id: served.tenant.cliClientId,
    redirect_uri: REDIRECT,
    scope: served.tenant.api.scope,
    ...fields,
  });
}

function expectRefusal(res: HttpResponse, error: string, aadsts: number): void {
  expect(res.status).toBe(400);
  expect(json(res)).toMatchObject({ error, error_codes: [aadsts], error_description: expect.stringMatching(new RegExp(`^AADSTS${aadsts}: `)) });
}

describe('the authorize page', () => {
  it('lists the dev users with Sign in and Decline, carrying the request in hidden fields', async () => {
    const page = await browser.request(authorizeRequest().url);
    const html = page.body.toString('utf8');
    for (const user of served.tenant.users()) expect(html).toContain(`value="${user.upn}"`);
    expect(html).toContain('value="sign_in"');
    expect(html).toMatch(/value="decline" formnovalidate/);
    expect(hiddenFields(html)).toMatchObject({ state: 'state-123', redirect_uri: REDIRECT, code_challenge_method: 'S256' });
    expect(page.headers['content-security-policy']).toContain("form-action 'self'");
  });

  it('posts a code, the state and client_info to the loopback redirect, allowing the form to post only there', async () => {
    const request = authorizeRequest();
    const answer = await submitPage(request, { username: 'bob@contoso.dev' });
    const fields = hiddenFields(answer.body.toString('utf8'));
    expect(fields.state).toBe('state-123');
    expect(fields.code).toMatch(/^[\w-]{40,}$/);
    const bob = served.tenant.users().find((u) => u.upn === 'bob@contoso.dev');
    expect(JSON.parse(Buffer.from(fields.client_info as string, 'base64url').toString())).toEqual({ uid: bob?.oid, utid: served.tenant.tenantId });
    expect(answer.headers['content-security-policy']).toContain(`form-action ${REDIRECT}`);
    expect(answer.headers['content-security-policy']).toMatch(/script-src 'nonce-[^']+'/);
  });

  it('answers Decline with access_denied AADSTS65004 on the redirect, and no code', async () => {
    const answer = await submitPage(authorizeRequest(), 'decline');
    const fields = hiddenFields(answer.body.toString('utf8'));
    expect(fields).toMatchObject({ error: 'access_denied', error_subcode: 'cancel', state: 'state-123' });
    expect(fields.error_description).toMatch(/^AADSTS65004: User declined to consent to access the app\./);
    expect(fields.code).toBeUndefined();
  });

  it('answers with a redirect carrying the code when the client asks for response_mode=query', async () => {
    const answer = await submitPage(authorizeRequest({ response_mode: 'query' }), { username: 'alice@contoso.dev' });
    expect(answer.status).toBe(302);
    const location = new URL(answer.headers.location as string);
    expect(location.origin).toBe(REDIRECT);
    expect(location.searchParams.get('state')).toBe('state-123');
    expect(location.searchParams.get('code')).toBeTruthy();
  });

  it('refuses a redirect URI that is not loopback on the page itself, sending nothing there (AADSTS50011)', async () => {
    for (const redirect of ['https://evil.example/cb', 'http://evil.example:80', 'http://127.0.0.1.evil.example:8080', 'http://user@localhost:1']) {
      const page = await browser.request(authorizeRequest({ redirect_uri: redirect }).url);
      expect(page.status, redirect).toBe(400);
      const html = page.body.toString('utf8');
      expect(html).toContain('AADSTS50011');
      expect(html).not.toContain('<form');
    }
  });

  it('refuses an unknown client on the page (AADSTS700016)', async () => {
    const page = await browser.request(authorizeRequest({ client_id: '00000000-0000-0000-0000-000000000001' }).url);
    expect(page.status).toBe(400);
    expect(page.body.toString('utf8')).toContain('AADSTS700016');
  });

  it('sends a request without PKCE, or with the plain method, back to the redirect as invalid_request', async () => {
    for (const [overrides, aadsts] of [
      [{ code_challenge: null, code_challenge_method: null }, 'AADSTS9002325'],
      [{ code_challenge_method: 'plain' }, 'AADSTS50149'],
    ] as const) {
      const page = await browser.request(authorizeRequest(overrides).url);
      const fields = hiddenFields(page.body.toString('utf8'));
      expect(fields.error).toBe('invalid_request');
      expect(fields.error_description).toMatch(new RegExp(`^${aadsts}: `));
    }
  });

  it('refuses a form posted from another origin, or without the page’s token, issuing no code', async () => {
    const page = await browser.request(authorizeRequest().url);
    const html = page.body.toString('utf8');
    const { form_token: _, ...withoutToken } = hiddenFields(html);
    const noToken = await postForm(browser, `${served.browserOrigin}${formAction(html)}`, { ...withoutToken, username: 'alice@contoso.dev' });
    expect(noToken.status).toBe(403);
    expect(hiddenFields(noToken.body.toString('utf8')).code).toBeUndefined();
    const crossSite = await browser.request(`${served.browserOrigin}${formAction(html)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ ...hiddenFields(html), username: 'alice@contoso.dev' }).toString(),
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body.toString('utf8')).not.toContain('name="code"');
  });

  it('escapes the state it echoes', async () => {
    const page = await browser.request(authorizeRequest({ state: '"><script>alert(1)</script>' }).url);
    const html = page.body.toString('utf8');
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(hiddenFields(html).state).toBe('"><script>alert(1)</script>');
  });
});

describe('the authorization_code grant', () => {
  it('redeems a code with the right verifier for tokens of the picked user, once', async () => {
    const request = authorizeRequest();
    const { code } = await signInOnPage(request, 'carol@contoso.dev');
    const res = await redeem({ code: code as string, code_verifier: request.verifier });
    expect(res.status).toBe(200);
    const body = json(res);
    expect(Object.keys(body)).toEqual(expect.arrayContaining(['access_token', 'id_token', 'refresh_token', 'client_info']));
    const claims = JSON.parse(Buffer.from(String(body.access_token).split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
    expect(claims.preferred_username).toBe('carol@contoso.dev');

    expectRefusal(await redeem({ code: code as string, code_verifier: request.verifier }), 'invalid_grant', 54005);
  });

  it('refuses a verifier that does not match the challenge (AADSTS501481), and the code is then spent', async () => {
    const request = authorizeRequest();
    const { code } = await signInOnPage(request);
    expectRefusal(await redeem({ code: code as string, code_verifier: randomBytes(32).toString('base64url') }), 'invalid_grant', 501481);
    expectRefusal(await redeem({ code: code as string, code_verifier: request.verifier }), 'invalid_grant', 54005);
  });

  it('refuses a redemption without code_verifier (AADSTS50148)', async () => {
    const { code } = await signInOnPage(authorizeRequest());
    expectRefusal(await redeem({ code: code as string }), 'invalid_grant', 50148);
  });

  it('refuses another redirect URI than the one the code was issued for (AADSTS500112)', async () => {
    const request = authorizeRequest();
    const { code } = await signInOnPage(request);
    expectRefusal(await redeem({ code: code as string, code_verifier: request.verifier, redirect_uri: 'http://localhost:51235' }), 'invalid_grant', 500112);
  });

  it('refuses a code presented by another client', async () => {
    const request = authorizeRequest();
    const { code } = await signInOnPage(request);
    const other = await postForm(served.transport, `${served.tenant.authority}/oauth2/v2.0/token`, {
      grant_type: 'authorization_code',
      client_id: served.tenant.automationApp.clientId,
      code: code as string,
      code_verifier: request.verifier,
      redirect_uri: REDIRECT,
    });
    expect(other.status).toBe(400);
    expect(json(other).error).toBe('invalid_client'); // a confidential app may not run user flows at all
  });

  it('refuses a code after its 10 minutes (AADSTS70008)', async () => {
    const request = authorizeRequest();
    const { code } = await signInOnPage(request);
    served.clock.now += 600_000;
    expectRefusal(await redeem({ code: code as string, code_verifier: request.verifier }), 'invalid_grant', 70008);
  });

  it('refuses a code it never issued', async () => {
    expectRefusal(await redeem({ code: 'made-up', code_verifier: 'x'.repeat(43) }), 'invalid_grant', 70000);
  });
});
