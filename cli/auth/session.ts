// Signing in to the broker's Entra tenant with the real MSAL public client: device code or the
// browser (authorization code + PKCE with a loopback redirect) once, then silent refresh from the
// token cache (OS keychain or a 0600 file). The tenant, client id and scope come from the broker's
// GET /v1/config, so a person only ever types the broker URL.
//
// The browser sign-in's loopback listener is MSAL's own (LoopbackClient): it binds 127.0.0.1 only,
// on a port the OS picks, takes the answer only by form_post and only with the exact `state` of
// this sign-in (anything else is answered 400 and ignored), and settles once. What MSAL leaves
// open — how long to wait — is BROWSER_SIGN_IN_TIMEOUT_SEC here.

import {
  AuthError,
  InteractionRequiredAuthError,
  LogLevel,
  PublicClientApplication,
  type AccountInfo,
  type AuthenticationResult,
  type Configuration,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import { formatDuration } from '../../shared/duration.js';
import { AccessError } from '../../shared/errors.js';
import { HttpTransport, isLoopbackHost } from '../../shared/http-transport.js';
import { msalNetworkModule } from '../../shared/msal-network.js';
import { DEFAULT_SIGN_IN_METHOD, type BrokerConfigResponse, type SignInMethod } from '../../shared/wire.js';
import { explainSignInFailure, type TenantErrorAnswer } from './sign-in-outcome.js';
import type { ConnectFailureExplainer } from '../broker-client.js';
import { chooseSecretStore, type SecretStore } from './secret-store.js';
import { tokenCachePlugin } from './token-cache-plugin.js';
import { type FetchedToken, TokenReuse } from '../../shared/token-reuse.js';

/** How long `access login` waits for the person to finish in the browser (Entra's codes live 15 min). */
export const DEVICE_CODE_TIMEOUT_SEC = 900;
/**
 * How long `access login --browser` waits for the browser to come back to this terminal: long
 * enough to pass MFA on a phone, short enough that a forgotten tab does not leave a listener open.
 */
export const BROWSER_SIGN_IN_TIMEOUT_SEC = 300;

/** What the browser tab shows once the answer reached this terminal (plain text: nothing in it comes from outside). */
const LOOPBACK_SUCCESS_PAGE = 'Signed in to access. You may close this tab and return to your terminal.';
const LOOPBACK_ERROR_PAGE = 'The sign-in did not complete. Your terminal says why. You may close this tab.';

export interface SignInRequest {
  method: SignInMethod;
  /**
   * Claims the tenant must put in the token (the JSON of a claims challenge, e.g. from a broker's
   * 401 `WWW-Authenticate`), passed to MSAL's `claims` request parameter in either flow. Default none.
   */
  claims?: string;
  /** Device code: receives Entra's "To sign in, use a web browser…" text. */
  onDeviceCode: (message: string) => void;
  /** Browser: opens (or shows) the sign-in page at this URL. */
  openBrowser: (url: string) => Promise<void>;
  /** Browser: how long to wait for the redirect. Default BROWSER_SIGN_IN_TIMEOUT_SEC seconds. */
  browserTimeoutMs?: number;
}

/**
 * Whether the broker serves its tenant itself (the embedded dev tenant, over HTTP or TLS): the
 * authority is on the broker's own host. A real tenant's authority is a Microsoft host.
 */
export function servesOwnTenant(brokerUrl: string, signIn: BrokerConfigResponse): boolean {
  return Boolean(signIn.devTenant) || new URL(signIn.authority).host === new URL(brokerUrl).host;
}

/**
 * Whether MSAL must be told the authority's host is known rather than ask Microsoft's instance
 * discovery, which only knows Microsoft's clouds: a tenant the broker serves itself, or a cloud the
 * broker's config writes out host by host (`customCloud`).
 */
export function isCustomAuthority(brokerUrl: string, signIn: BrokerConfigResponse): boolean {
  return signIn.customCloud === true || servesOwnTenant(brokerUrl, signIn);
}

/**
 * The transport MSAL reaches the tenant with. A broker that serves the embedded dev tenant itself
 * on loopback HTTP names the https origin MSAL sees; we accept that only for the loopback origin
 * of the very broker we were pointed at. A broker serving its own tenant over TLS is trusted with
 * the broker's private CA (`extraCa`); a real tenant only with the public roots — a CA trusted for
 * the broker is no reason to trust it for Microsoft's sign-in hosts.
 */
export function transportFor(brokerUrl: string, signIn: BrokerConfigResponse | null, extraCa: readonly string[] = []): HttpTransport {
  const dev = signIn?.devTenant;
  if (!dev) return signIn && servesOwnTenant(brokerUrl, signIn) ? new HttpTransport({ extraCa }) : new HttpTransport();
  const broker = new URL(brokerUrl);
  const origin = new URL(dev.origin);
  if (origin.host !== broker.host || !isLoopbackHost(broker.hostname)) {
    throw new AccessError(
      'broker_response_invalid',
      `the broker at ${brokerUrl} asked to reach a dev tenant at ${dev.origin} over plain HTTP; that is only allowed for a broker on loopback serving its own dev tenant`,
    );
  }
  return new HttpTransport({ plaintextOrigins: [origin.origin] });
}

/**
 * MSAL reports a failed call to the tenant only as `endpoints_resolution_error` or a bare network
 * error. This keeps the last failure and its URL, so a sign-in error can say what really happened
 * (e.g. a dev broker's certificate this CLI does not trust).
 */
class NetworkFailures {
  last: { error: unknown; url: string } | null = null;
  /**
   * The tenant's last error answer (Entra's JSON error body). MSAL keeps only the OAuth error word of
   * a refused device code poll (`post_request_failed: invalid_grant`); the AADSTS number is here.
   */
  lastAnswer: TenantErrorAnswer | null = null;

  reset(): void {
    this.last = null;
    this.lastAnswer = null;
  }

  watch(inner: INetworkModule): INetworkModule {
    const record =
      (url: string) =>
      (error: unknown): never => {
        this.last = { error, url };
        throw error;
      };
    const answered = <T>(response: NetworkResponse<T>): NetworkResponse<T> => {
      this.lastAnswer = response.status >= 400 ? tenantErrorAnswer(response.body) : null;
      return response;
    };
    return {
      sendGetRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => inner.sendGetRequestAsync<T>(url, options).then(answered, record(url)),
      sendPostRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => inner.sendPostRequestAsync<T>(url, options).then(answered, record(url)),
    };
  }
}

/** Entra's error fields from a response body, or null when it is not an OAuth error. */
function tenantErrorAnswer(body: unknown): TenantErrorAnswer | null {
  if (body === null || typeof body !== 'object') return null;
  const fields = body as Record<string, unknown>;
  if (typeof fields.error !== 'string') return null;
  const codes = Array.isArray(fields.error_codes) ? fields.error_codes.filter((c): c is number => typeof c === 'number') : [];
  return {
    error: fields.error,
    errorCodes: codes,
    ...(typeof fields.suberror === 'string' ? { suberror: fields.suberror } : {}),
    ...(typeof fields.error_description === 'string' ? { description: fields.error_description } : {}),
  };
}

export function isSameTenant(account: AccountInfo, signIn: BrokerConfigResponse): boolean {
  return account.tenantId === signIn.tenantId;
}

export class Session {
  readonly signIn: BrokerConfigResponse;
  readonly store: SecretStore;
  /** One line saying which secret store holds the tokens, and why. */
  readonly storeNotice: string;
  readonly #pca: PublicClientApplication;
  readonly #brokerUrl: string;
  readonly #failures: NetworkFailures;
  readonly #trust: ConnectFailureExplainer | null;
  /** The token MSAL returned last, reused for a few seconds (a listener asks for one per connection). */
  readonly #tokens = new TokenReuse(() => this.#freshAccessToken());

  private constructor(
    pca: PublicClientApplication,
    signIn: BrokerConfigResponse,
    store: SecretStore,
    storeNotice: string,
    network: { brokerUrl: string; failures: NetworkFailures; trust: ConnectFailureExplainer | null },
  ) {
    this.#pca = pca;
    this.signIn = signIn;
    this.store = store;
    this.storeNotice = storeNotice;
    this.#brokerUrl = network.brokerUrl;
    this.#failures = network.failures;
    this.#trust = network.trust;
  }

  static async open(options: {
    home: string;
    env: NodeJS.ProcessEnv;
    /** The broker the sign-in config came from. */
    brokerUrl: string;
    signIn: BrokerConfigResponse;
    transport: HttpTransport;
    /** Explains a TLS failure reaching a tenant the broker serves itself (cli/broker-trust.ts). Default: none. */
    trust?: ConnectFailureExplainer;
    debug?: (line: string) => void;
  }): Promise<Session> {
    const failures = new NetworkFailures();
    const { store, notice } = await chooseSecretStore(options.home, options.env);
    const { signIn } = options;
    const config: Configuration = {
      auth: {
        clientId: signIn.clientId,
        authority: signIn.authority,
        // The dev tenant or a custom cloud is not a Microsoft cloud host: name it so MSAL skips cloud instance discovery.
        ...(isCustomAuthority(options.brokerUrl, signIn) ? { knownAuthorities: [new URL(signIn.authority).host] } : {}),
      },
      cache: { cachePlugin: tokenCachePlugin(store) },
      system: {
        networkClient: failures.watch(msalNetworkModule(options.transport)),
        loggerOptions: {
          logLevel: options.debug ? LogLevel.Verbose : LogLevel.Error,
          piiLoggingEnabled: false,
          loggerCallback: (_level, message) => options.debug?.(`msal: ${message}`),
        },
      },
    };
    return new Session(new PublicClientApplication(config), signIn, store, notice, {
      brokerUrl: options.brokerUrl,
      failures,
      trust: options.trust ?? null,
    });
  }

  /** The signed-in account for this broker's tenant, if any. */
  async account(): Promise<AccountInfo | null> {
    const accounts = await this.#pca.getTokenCache().getAllAccounts();
    return accounts.find((a) => isSameTenant(a, this.signIn)) ?? null;
  }

  /**
   * Signs a person in interactively: by device code, or through the browser with a loopback
   * redirect. Every failure is an AccessError whose code says what happened (sign-in-outcome.ts).
   */
  async signInInteractively(request: SignInRequest): Promise<AccountInfo> {
    this.#tokens.clear();
    let result: AuthenticationResult | null;
    this.#failures.reset();
    const claims = request.claims ? { claims: request.claims } : {};
    try {
      result =
        request.method === 'browser'
          ? await this.#browserSignIn(request)
          : await this.#pca.acquireTokenByDeviceCode({
              scopes: this.signIn.scopes,
              deviceCodeCallback: (response) => request.onDeviceCode(response.message),
              timeout: DEVICE_CODE_TIMEOUT_SEC,
              ...claims,
            });
    } catch (error) {
      throw this.#signInError(error, request.method);
    }
    if (!result?.account) throw new AccessError('sign_in_failed', 'the tenant answered without an account; try `access login` again');
    // One state dir is one person: forget anyone else who signed in here before.
    const cache = this.#pca.getTokenCache();
    for (const other of await cache.getAllAccounts()) {
      if (other.homeAccountId !== result.account.homeAccountId) await cache.removeAccount(other);
    }
    // A call made while the person was signing in may have been handed the token this sign-in replaces.
    this.#tokens.clear();
    return result.account;
  }

  /** acquireTokenInteractive with a limit on the wait; on the limit MSAL's loopback listener is told to stop. */
  async #browserSignIn(request: SignInRequest): Promise<AuthenticationResult> {
    let loopback: URL | null = null;
    const interactive = this.#pca.acquireTokenInteractive({
      scopes: this.signIn.scopes,
      ...(request.claims ? { claims: request.claims } : {}),
      successTemplate: LOOPBACK_SUCCESS_PAGE,
      errorTemplate: LOOPBACK_ERROR_PAGE,
      openBrowser: async (url) => {
        loopback = new URL(url);
        await request.openBrowser(pageUrl(url, this.#brokerUrl, this.signIn));
      },
    });
    const limitMs = request.browserTimeoutMs ?? BROWSER_SIGN_IN_TIMEOUT_SEC * 1000;
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new AccessError(
              'sign_in_timed_out',
              `the browser did not come back to this terminal within ${formatDuration(limitMs)} (the browser sign-in limit) — run \`access login --browser\` again, or \`access login --device-code\` to sign in from another device`,
            ),
          ),
        limitMs,
      );
    });
    try {
      return await Promise.race([interactive, limit]);
    } catch (error) {
      if (error instanceof AccessError && loopback) await stopLoopback(loopback);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A valid access token for the broker, refreshed silently; never prompts. */
  accessToken(): Promise<string> {
    return this.#tokens.get();
  }

  async #freshAccessToken(): Promise<FetchedToken> {
    const account = await this.account();
    if (!account) throw new AccessError('not_signed_in', 'you are not signed in — run `access login`');
    this.#failures.last = null;
    try {
      const result = await this.#pca.acquireTokenSilent({ account, scopes: this.signIn.scopes });
      // No expiry from MSAL (it always gives one): not reused.
      return { token: result.accessToken, expiresAt: result.expiresOn?.getTime() ?? 0 };
    } catch (error) {
      if (error instanceof InteractionRequiredAuthError || (error instanceof AuthError && error.errorCode === 'no_tokens_found')) {
        throw new AccessError('not_signed_in', `your sign-in as ${account.username} has expired — run \`access login\``, { cause: error });
      }
      throw this.#signInError(error);
    }
  }

  /** Forgets every account and token; returns who was signed in. */
  async signOut(): Promise<AccountInfo[]> {
    this.#tokens.clear();
    const cache = this.#pca.getTokenCache();
    const accounts = await cache.getAllAccounts();
    for (const account of accounts) await cache.removeAccount(account);
    await this.store.clear();
    return accounts;
  }

  /** Why an MSAL call failed, in words: a network failure MSAL hid comes first. */
  #signInError(error: unknown, method: SignInMethod = DEFAULT_SIGN_IN_METHOD): AccessError {
    const failure = this.#failures.last;
    const answer = this.#failures.lastAnswer;
    this.#failures.reset();
    if (!failure || error instanceof AccessError) return signInError(error, method, answer);
    const url = new URL(failure.url);
    if (url.host === new URL(this.#brokerUrl).host) {
      const explained = this.#trust?.explain(failure.error, failure.url);
      if (explained) return explained;
    }
    const reason = (failure.error as NodeJS.ErrnoException).code ?? (failure.error instanceof Error ? failure.error.message : String(failure.error));
    return new AccessError('tenant_unreachable', `sign-in failed: cannot reach the tenant at ${url.origin} (${reason})`, { cause: error });
  }
}

function signInError(error: unknown, method: SignInMethod, server: TenantErrorAnswer | null): AccessError {
  if (error instanceof AccessError) return error;
  if (error instanceof AuthError) {
    const { code, message } = explainSignInFailure({ method, msalCode: error.errorCode, msalMessage: error.errorMessage, server });
    return new AccessError(code, message, { cause: error });
  }
  const text = error instanceof Error ? error.message : String(error);
  return new AccessError('sign_in_failed', `sign-in failed: ${text.split('\n')[0] ?? text}`, { cause: error });
}

/**
 * The sign-in page's URL as a browser must open it. MSAL builds it on the https origin it was given;
 * a dev broker serving its tenant over plain HTTP on loopback (`devTenant` in /v1/config, accepted by
 * transportFor only for the very broker we were pointed at) serves the page on its http origin.
 */
export function pageUrl(url: string, brokerUrl: string, signIn: BrokerConfigResponse): string {
  const dev = signIn.devTenant;
  if (!dev) return url;
  const page = new URL(url);
  if (page.origin !== new URL(dev.origin).origin) return url;
  const broker = new URL(brokerUrl);
  page.protocol = broker.protocol;
  page.host = broker.host;
  return page.toString();
}

/**
 * Ends MSAL's loopback listener after our limit: it waits for one answer with this sign-in's state,
 * so we send it that (an error), and MSAL closes its server. `authorizeUrl` carries both.
 */
async function stopLoopback(authorizeUrl: URL): Promise<void> {
  const redirect = authorizeUrl.searchParams.get('redirect_uri');
  const state = authorizeUrl.searchParams.get('state');
  if (!redirect || !state) return;
  const target = new URL(redirect);
  target.hostname = '127.0.0.1'; // where MSAL listens, whatever `localhost` resolves to
  await fetch(target, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ error: 'timed_out', error_description: 'the CLI stopped waiting', state }).toString(),
  }).catch(() => undefined);
}
