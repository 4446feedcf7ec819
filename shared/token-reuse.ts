// Reusing the access token MSAL just handed out, for a few seconds, in this process. Every tunnel
// asks for a token (a listener opens one tunnel per local connection), and MSAL's silent path reads
// and parses the token cache file, walks its accounts and writes the file back each time: in a
// profile of `access connect` at a few hundred new connections a second that was about 40 % of
// the CLI's CPU. A token is reused only while it was fetched less than TOKEN_REUSE_MS ago AND is
// still valid for longer than MSAL's own renewal margin, so it is the very token MSAL would have
// returned; callers that ask at the same moment share one fetch. App-only tokens (app-token.ts)
// are reused the same way: the broker asks for its Graph token at every tunnel's membership check,
// and MSAL's client-credential path rebuilds its authority and walks its cache each time.

/** How long a fetched token is reused: a sign-out in another shell reaches new tunnels within this. */
export const TOKEN_REUSE_MS = 10_000;
/** MSAL renews a token this close to its expiry (its tokenRenewalOffsetSeconds default, 5 minutes); one that close is never reused. */
export const TOKEN_RENEWAL_MARGIN_MS = 5 * 60_000;

export interface FetchedToken {
  token: string;
  /** When the token expires (ms since the epoch). */
  expiresAt: number;
}

export class TokenReuse {
  readonly #fetch: () => Promise<FetchedToken>;
  readonly #now: () => number;
  #held: { token: FetchedToken; fetchedAt: number } | null = null;
  #inFlight: Promise<string> | null = null;
  /** Bumped by clear(): a fetch started before it neither fills #held nor serves later callers. */
  #generation = 0;

  constructor(fetch: () => Promise<FetchedToken>, now: () => number = Date.now) {
    this.#fetch = fetch;
    this.#now = now;
  }

  /** A token: the one held when still fresh, else a new fetch (shared by concurrent callers; a failure is not kept). */
  get(): Promise<string> {
    const now = this.#now();
    const held = this.#held;
    if (held && now - held.fetchedAt < TOKEN_REUSE_MS && held.token.expiresAt - now > TOKEN_RENEWAL_MARGIN_MS) return Promise.resolve(held.token.token);
    if (this.#inFlight) return this.#inFlight;
    const generation = this.#generation;
    const fetching = this.#fetch()
      .then((token) => {
        if (generation === this.#generation) this.#held = { token, fetchedAt: this.#now() };
        return token.token;
      })
      .finally(() => {
        if (this.#inFlight === fetching) this.#inFlight = null;
      });
    this.#inFlight = fetching;
    return fetching;
  }

  /**
   * Forgets the held token (a sign-in or sign-out in this process), and any fetch still running: its
   * token may be the one the sign-in replaces.
   */
  clear(): void {
    this.#generation += 1;
    this.#held = null;
    this.#inFlight = null;
  }
}
