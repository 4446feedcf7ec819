// Signing in to the broker's Entra tenant with the real MSAL public client: device code once,
// then silent refresh from the token cache (OS keychain or a 0600 file). The tenant, client id
// and scope come from the broker's GET /v1/config, so a person only ever types the broker URL.

import {
  AuthError,
  InteractionRequiredAuthError,
  LogLevel,
  PublicClientApplication,
  type AccountInfo,
  type Configuration,
  type INetworkModule,
  type NetworkRequestOptions,
} from '@azure/msal-node';
import { AccessError } from '../../shared/errors.js';
import { HttpTransport, isLoopbackHost } from '../../shared/http-transport.js';
import { msalNetworkModule } from '../../shared/msal-network.js';
import type { BrokerConfigResponse } from '../../shared/wire.js';
import type { ConnectFailureExplainer } from '../broker-client.js';
import { chooseSecretStore, type SecretStore } from './secret-store.js';
import { tokenCachePlugin } from './token-cache-plugin.js';
import { type FetchedToken, TokenReuse } from './token-reuse.js';

/** How long `access login` waits for the person to finish in the browser (Entra's codes live 15 min). */
export const DEVICE_CODE_TIMEOUT_SEC = 900;

/**
 * Whether the broker serves its tenant itself (the embedded dev tenant, over HTTP or TLS): the
 * authority is on the broker's own host. A real tenant's authority is a Microsoft host.
 */
export function servesOwnTenant(brokerUrl: string, signIn: BrokerConfigResponse): boolean {
  return Boolean(signIn.devTenant) || new URL(signIn.authority).host === new URL(brokerUrl).host;
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

  watch(inner: INetworkModule): INetworkModule {
    const record =
      (url: string) =>
      (error: unknown): never => {
        this.last = { error, url };
        throw error;
      };
    return {
      sendGetRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => inner.sendGetRequestAsync<T>(url, options).catch(record(url)),
      sendPostRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => inner.sendPostRequestAsync<T>(url, options).catch(record(url)),
    };
  }
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
        // The dev tenant is not a Microsoft cloud host: name it so MSAL skips cloud instance discovery.
        ...(servesOwnTenant(options.brokerUrl, signIn) ? { knownAuthorities: [new URL(signIn.authority).host] } : {}),
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

  /** Device code sign-in; `onMessage` receives Entra's "To sign in, use a web browser…" text. */
  async signInWithDeviceCode(onMessage: (message: string) => void): Promise<AccountInfo> {
    this.#tokens.clear();
    let result;
    this.#failures.last = null;
    try {
      result = await this.#pca.acquireTokenByDeviceCode({
        scopes: this.signIn.scopes,
        deviceCodeCallback: (response) => onMessage(response.message),
        timeout: DEVICE_CODE_TIMEOUT_SEC,
      });
    } catch (error) {
      throw this.#signInError(error);
    }
    if (!result?.account) throw new AccessError('sign_in_failed', 'the tenant answered without an account; try `access login` again');
    // One state dir is one person: forget anyone else who signed in here before.
    const cache = this.#pca.getTokenCache();
    for (const other of await cache.getAllAccounts()) {
      if (other.homeAccountId !== result.account.homeAccountId) await cache.removeAccount(other);
    }
    return result.account;
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
  #signInError(error: unknown): AccessError {
    const failure = this.#failures.last;
    this.#failures.last = null;
    if (!failure || error instanceof AccessError) return signInError(error);
    const url = new URL(failure.url);
    if (url.host === new URL(this.#brokerUrl).host) {
      const explained = this.#trust?.explain(failure.error, failure.url);
      if (explained) return explained;
    }
    const reason = (failure.error as NodeJS.ErrnoException).code ?? (failure.error instanceof Error ? failure.error.message : String(failure.error));
    return new AccessError('tenant_unreachable', `sign-in failed: cannot reach the tenant at ${url.origin} (${reason})`, { cause: error });
  }
}

function signInError(error: unknown): AccessError {
  if (error instanceof AccessError) return error;
  if (error instanceof AuthError) {
    if (error.errorCode === 'expired_token' || error.errorCode === 'device_code_polling_cancelled' || /timed? ?out/i.test(error.errorMessage)) {
      return new AccessError('sign_in_timed_out', 'the sign-in code expired before it was used — run `access login` again', { cause: error });
    }
    return new AccessError('sign_in_failed', `sign-in failed: ${error.errorCode}${error.errorMessage ? ` — ${firstLine(error.errorMessage)}` : ''}`, {
      cause: error,
    });
  }
  const text = error instanceof Error ? error.message : String(error);
  return new AccessError('sign_in_failed', `sign-in failed: ${firstLine(text)}`, { cause: error });
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
