// Every way an interactive sign-in ends, with the real MSAL against the dev tenant (no mocks): what
// MSAL raises for each (the `cause`) and the error code the CLI turns it into (and so its exit code).

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Session, transportFor, type SignInRequest } from '../../../cli/auth/session.js';
import { AccessError } from '../../../shared/errors.js';
import { HttpTransport } from '../../../shared/http-transport.js';
import type { BrokerConfigResponse } from '../../../shared/wire.js';
import { tempDir } from '../../helpers/processes.js';
import { approveOnPage, formToken, postForm, serveDevTenant, type Served } from '../../broker/devtenant/harness.js';

let served: Served;

beforeEach(async () => {
  served = await serveDevTenant({ deviceCodeLifetimeSec: 60 });
});
afterEach(async () => {
  await served.close();
});

function signInConfig(): BrokerConfigResponse {
  return {
    tenantId: served.tenant.tenantId,
    authority: served.tenant.authority,
    clientId: served.tenant.cliClientId,
    scopes: [served.tenant.api.scope],
    devTenant: { origin: served.publicOrigin },
    brokerVersion: 'test',
  };
}

async function openSession(): Promise<Session> {
  const signIn = signInConfig();
  return Session.open({
    home: await tempDir('sign-in-home'),
    env: { ACCESS_TOKEN_STORE: 'file' },
    brokerUrl: served.browserOrigin,
    signIn,
    transport: transportFor(served.browserOrigin, signIn),
  });
}

/** A device code request whose page is answered by `onCode` (the user code in, a promise out). */
function deviceCode(onCode: (userCode: string) => Promise<unknown>): SignInRequest {
  return {
    method: 'device-code',
    onDeviceCode: (message) => {
      const code = /enter the code (\S+) to authenticate/.exec(message)?.[1] as string;
      void onCode(code);
    },
    openBrowser: async () => undefined,
  };
}

/** Presses Decline on the device-login page for `userCode`. */
async function declineOnPage(userCode: string): Promise<void> {
  const page = new HttpTransport();
  const form = await page.request(`${served.browserOrigin}/devicelogin`);
  await postForm(page, `${served.browserOrigin}/devicelogin`, { user_code: userCode, action: 'decline', form_token: formToken(form.body.toString('utf8')) });
}

/** A browser: opens the authorize page and presses Sign in as `username` or Decline, then posts the answer to the loopback redirect. */
/** What a browser reads out of an HTML attribute value the dev tenant escaped (html.ts escapeHtml). */
function unescapeHtml(text: string): string {
  const entities: Record<string, string> = { '&amp;': '&', '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>' };
  return text.replace(/&(amp|quot|#39|lt|gt);/g, (entity) => entities[entity] ?? entity);
}

function browserChoosing(choice: string | 'decline'): SignInRequest {
  return {
    method: 'browser',
    onDeviceCode: () => undefined,
    openBrowser: async (url) => {
      const browser = new HttpTransport();
      const page = (await browser.request(url)).body.toString('utf8');
      const fields = Object.fromEntries(
        [...page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], unescapeHtml(m[2] ?? '')]),
      );
      const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1] as string;
      const answer = await postForm(browser, new URL(action, url).toString(), {
        ...fields,
        ...(choice === 'decline' ? { action: 'decline' } : { action: 'sign_in', username: choice }),
      });
      const html = answer.body.toString('utf8');
      const redirect = /<form method="post" action="([^"]+)"/.exec(html)?.[1] as string;
      const posted = Object.fromEntries(
        [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], unescapeHtml(m[2] ?? '')]),
      );
      // The loopback listens on 127.0.0.1 (the redirect names localhost); a real browser's answer is in the background.
      const loopback = new URL(redirect);
      loopback.hostname = '127.0.0.1';
      void postForm(browser, loopback.toString(), posted);
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<AccessError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AccessError);
  return error as AccessError;
}

describe('device code sign-in outcomes', () => {
  it('signs in when the page approves', async () => {
    const session = await openSession();
    const account = await session.signInInteractively(deviceCode((code) => approveOnPage(served, code, 'alice@contoso.dev')));
    expect(account.username).toBe('alice@contoso.dev');
    expect(await session.accessToken()).toMatch(/^ey/);
  });

  it('says declined (exit 3) when the person presses Decline: MSAL raised post_request_failed with authorization_declined', async () => {
    const session = await openSession();
    const error = await failure(session.signInInteractively(deviceCode(declineOnPage)));
    expect(error.code).toBe('sign_in_declined');
    expect(error.exitCode).toBe(3);
    expect(error.cause).toMatchObject({ errorCode: 'post_request_failed', errorMessage: 'authorization_declined' });
  });

  it('says the tenant blocks device code and to use --browser (exit 3): MSAL raised post_request_failed with invalid_grant only', async () => {
    served.tenant.setDeviceCodeBlocked(true);
    const session = await openSession();
    const error = await failure(session.signInInteractively(deviceCode((code) => approveOnPage(served, code, 'alice@contoso.dev'))));
    expect(error.code).toBe('sign_in_blocked');
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain('access login --browser');
    expect(error.message).toContain('AADSTS53003');
    expect(error.cause).toMatchObject({ errorCode: 'post_request_failed', errorMessage: 'invalid_grant' });
  });

  it('says the code expired (exit 5) when nobody used it: MSAL raised device_code_expired on its own clock', async () => {
    await served.close();
    served = await serveDevTenant({ deviceCodeLifetimeSec: 2 });
    const session = await openSession();
    const error = await failure(session.signInInteractively(deviceCode(async () => undefined)));
    expect(error.code).toBe('sign_in_timed_out');
    expect(error.exitCode).toBe(5);
    expect(error.cause).toMatchObject({ errorCode: 'device_code_expired' });
  });

  it('says the code expired (exit 5) when the tenant answers expired_token first: MSAL raised post_request_failed', async () => {
    const session = await openSession();
    const error = await failure(
      session.signInInteractively(
        deviceCode(async () => {
          served.clock.now += 61_000; // the tenant's clock passes the code's lifetime; MSAL's has not
        }),
      ),
    );
    expect(error.code).toBe('sign_in_timed_out');
    expect(error.cause).toMatchObject({ errorCode: 'post_request_failed', errorMessage: 'expired_token' });
  });
});

describe('browser sign-in outcomes', () => {
  it('signs in through the authorize page and the loopback redirect, and refreshes silently after', async () => {
    const session = await openSession();
    const account = await session.signInInteractively(browserChoosing('dave@contoso.dev'));
    expect(account.username).toBe('dave@contoso.dev');
    expect((await session.account())?.username).toBe('dave@contoso.dev');
    expect(await session.accessToken()).toMatch(/^ey/);
  });

  it('opens the page on the dev broker’s own http origin, with PKCE S256 and a localhost redirect', async () => {
    const session = await openSession();
    let opened = '';
    const request = browserChoosing('alice@contoso.dev');
    await session.signInInteractively({
      ...request,
      openBrowser: async (url) => {
        opened = url;
        await request.openBrowser(url);
      },
    });
    const url = new URL(opened);
    expect(url.origin).toBe(served.browserOrigin);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('redirect_uri')).toMatch(/^http:\/\/localhost:\d+$/);
  });

  it('listens on 127.0.0.1 only, and ignores an answer without this sign-in’s state (a page trying to plant its own code)', async () => {
    const session = await openSession();
    const request = browserChoosing('erin@contoso.dev');
    const probes: Record<string, unknown> = {};
    const account = await session.signInInteractively({
      ...request,
      openBrowser: async (url) => {
        const loopback = new URL(new URL(url).searchParams.get('redirect_uri') as string);
        loopback.hostname = '127.0.0.1';
        const forged = await postForm(new HttpTransport(), loopback.toString(), { code: 'planted', state: 'not-this-sign-in' });
        probes.forged = forged.status;
        probes.ipv6 = await fetch(`http://[::1]:${loopback.port}/`).then(
          () => 'answered',
          () => 'refused',
        );
        await request.openBrowser(url);
      },
    });
    expect(probes).toEqual({ forged: 400, ipv6: 'refused' });
    expect(account.username).toBe('erin@contoso.dev');
  });

  it('says declined (exit 3) when the person presses Decline: MSAL raised access_denied from the redirect', async () => {
    const session = await openSession();
    const error = await failure(session.signInInteractively(browserChoosing('decline')));
    expect(error.code).toBe('sign_in_declined');
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain('access login --browser');
    expect(error.cause).toMatchObject({ errorCode: 'access_denied' });
  });

  it('passes the claims it is given to the tenant in the authorize request', async () => {
    const session = await openSession();
    const claims = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}';
    let opened = '';
    const request = browserChoosing('alice@contoso.dev');
    await session.signInInteractively({
      ...request,
      claims,
      openBrowser: async (url) => {
        opened = url;
        await request.openBrowser(url);
      },
    });
    expect(JSON.parse(new URL(opened).searchParams.get('claims') as string)).toMatchObject(JSON.parse(claims));
  });

  it('gives up after its limit with a timeout (exit 5) naming the limit, and closes the loopback listener', async () => {
    const session = await openSession();
    let redirect = '';
    const error = await failure(
      session.signInInteractively({
        method: 'browser',
        onDeviceCode: () => undefined,
        openBrowser: async (url) => {
          redirect = new URL(url).searchParams.get('redirect_uri') as string;
        },
        browserTimeoutMs: 300,
      }),
    );
    expect(error.code).toBe('sign_in_timed_out');
    expect(error.exitCode).toBe(5);
    expect(error.message).toContain('browser sign-in limit');
    const loopback = new URL(redirect);
    loopback.hostname = '127.0.0.1';
    await expect(fetch(loopback)).rejects.toThrow();
  });
});
