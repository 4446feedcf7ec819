// What a sign-in to the dev tenant proves, and what a client asked it to prove. A client passes
// OpenID Connect's `claims` request parameter (MSAL's `claims`, from an API's claims challenge:
// shared/claims-challenge.ts); the dev tenant reads three requests in it for the access token:
//   amr: {values: ["mfa"]} — multi-factor sign-in;  acrs: {value: "c1"} — an authentication
//   context (Conditional Access would demand MFA for it);  auth_time — a fresh sign-in.
// A dev user with `mfa: true` completes the first two (their token then carries amr ["pwd","mfa"]
// and the contexts asked for); one without is refused on the sign-in page, as Entra makes a user
// without a registered method enrol first. Every sign-in stamps auth_time; refresh tokens carry the
// sign-in's facts along, so a refreshed token proves what the sign-in proved, no more.

/** The facts of one sign-in, as its tokens carry them. */
export interface SignInRecord {
  amr: string[];
  acrs: string[];
  /** Seconds since the epoch. */
  authTime: number;
}

/** What a claims request asks a sign-in to prove. */
export interface RequestedSignIn {
  mfa: boolean;
  acrs: string[];
  /** auth_time requested: a refresh cannot satisfy it, only a new sign-in. */
  fresh: boolean;
}

export const NOTHING_REQUESTED: RequestedSignIn = { mfa: false, acrs: [], fresh: false };

/** The request in a `claims` parameter; a string saying what is wrong when it is not a claims request. */
export function parseRequestedSignIn(claims: string | undefined): RequestedSignIn | string {
  if (claims === undefined || claims.trim() === '') return NOTHING_REQUESTED;
  let parsed: unknown;
  try {
    parsed = JSON.parse(claims);
  } catch {
    return 'The claims parameter is not valid JSON.';
  }
  if (!isObject(parsed)) return 'The claims parameter must be a JSON object.';
  const token = parsed['access_token'];
  if (token === undefined) return NOTHING_REQUESTED;
  if (!isObject(token)) return "The claims parameter's access_token member must be a JSON object.";
  const amr = token['amr'];
  const acrs = token['acrs'];
  return {
    mfa: isObject(amr) && valuesOf(amr).includes('mfa'),
    acrs: isObject(acrs) ? valuesOf(acrs) : [],
    fresh: token['auth_time'] !== undefined,
  };
}

/** Whether the sign-in must prove a second factor. */
export function needsSecondFactor(requested: RequestedSignIn): boolean {
  return requested.mfa || requested.acrs.length > 0;
}

/** The facts of a new sign-in by a user who can (`mfa`) or cannot complete a second factor; null: refused. */
export function completeSignIn(requested: RequestedSignIn, userHasMfa: boolean, nowMs: number): SignInRecord | null {
  if (needsSecondFactor(requested) && !userHasMfa) return null;
  return {
    amr: needsSecondFactor(requested) ? ['pwd', 'mfa'] : ['pwd'],
    acrs: [...requested.acrs],
    authTime: Math.floor(nowMs / 1000),
  };
}

/** Whether an existing sign-in (a refresh token's) already proves what is requested. */
export function satisfies(record: SignInRecord, requested: RequestedSignIn): boolean {
  if (requested.fresh) return false;
  if (requested.mfa && !record.amr.includes('mfa')) return false;
  return requested.acrs.every((context) => record.acrs.includes(context));
}

function valuesOf(request: Record<string, unknown>): string[] {
  const values = Array.isArray(request['values']) ? request['values'] : [];
  const one = request['value'];
  return [...values, ...(one === undefined ? [] : [one])].filter((v): v is string => typeof v === 'string');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
