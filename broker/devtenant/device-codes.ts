// Pending device authorizations (RFC 8628 as Entra runs it): the CLI gets a device code and the
// person a short user code; the device-login page approves a user code for a dev user; the CLI's
// next poll collects the tokens once. Held in memory: a restart ends pending sign-ins, as a
// sign-in that outlives its 15 minutes would anyway.
//
// Anyone who reaches the endpoint may start one (it takes no credentials), so the store is bounded
// three ways: MAX_PENDING_DEVICE_CODES in all, MAX_PENDING_DEVICE_CODES_PER_CLIENT per client
// address (one flooding client cannot starve the others), and an expired code stops counting the
// moment it expires (it is only remembered, for a while, to answer a late poll with "expired").

import { randomBytes, randomInt } from 'node:crypto';
import type { EntraError } from './entra-errors.js';
import { NOTHING_REQUESTED, type RequestedSignIn, type SignInRecord } from './sign-in-claims.js';

/** Entra's device code lifetime. */
export const DEVICE_CODE_LIFETIME_SEC = 900;
/** Seconds the client waits between polls; small because approval here is a local form post. */
export const DEVICE_CODE_POLL_INTERVAL_SEC = 1;
/** Pending sign-ins kept at once; bounds memory if a script loops on /devicecode. */
export const MAX_PENDING_DEVICE_CODES = 1000;
/**
 * Pending sign-ins one client address may hold: a person signs in once or twice at a time, a
 * script or test suite signs in a few dev users at once; a flood from one address stops here, long
 * before the total above.
 */
export const MAX_PENDING_DEVICE_CODES_PER_CLIENT = 20;
/** An expired code is remembered this long so a late poll hears "expired", not "unknown". */
const EXPIRED_RETENTION_MS = 15 * 60_000;
/** Letters only, without I, L and O, which people confuse with 1 and 0 when typing. */
const USER_CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ';
const USER_CODE_LENGTH = 8;
/** Random bytes of a device code (only the client sees it; it must not be guessable). */
const DEVICE_CODE_BYTES = 32;

export interface DeviceAuthorization {
  readonly deviceCode: string;
  readonly userCode: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** Milliseconds since the epoch (the tenant's clock). */
  readonly expiresAt: number;
  /** Object id of the user who approved it on the device-login page; null while pending. */
  approvedOid: string | null;
  /** What the client's `claims` asked the sign-in to prove (sign-in-claims.ts). */
  readonly requested: RequestedSignIn;
  /** What the approving sign-in proved; null while pending. */
  signIn: SignInRecord | null;
  /** Why the sign-in page refused it (a user without MFA asked for MFA); the next poll answers this. */
  refusal: EntraError | null;
}

export type PollResult =
  | { state: 'pending' | 'expired' | 'unknown' | 'other_client' }
  | { state: 'approved'; authorization: DeviceAuthorization }
  | { state: 'refused'; error: EntraError };

export type ApproveResult = 'approved' | 'unknown' | 'expired';

/** A started authorization, or why none was: the store is full, or this client holds its share. */
export type StartResult = { started: DeviceAuthorization } | { refused: 'full' | 'client_full' };

/** The form a person may type a user code in: any case, spaces or dashes. */
export function normalizeUserCode(text: string): string {
  return text.replace(/[\s-]/g, '').toUpperCase();
}

export class DeviceCodes {
  readonly #now: () => number;
  readonly #byDeviceCode = new Map<string, DeviceAuthorization>();
  readonly #byUserCode = new Map<string, DeviceAuthorization>();
  /** Pending (unexpired, uncollected) authorizations with the client address that started each. */
  readonly #pending = new Map<DeviceAuthorization, string>();
  /** How many of #pending each client address holds. */
  readonly #pendingByClient = new Map<string, number>();

  readonly #lifetimeSec: number;

  /** `lifetimeSec`: how long a code lives; default Entra's DEVICE_CODE_LIFETIME_SEC. */
  constructor(now: () => number, lifetimeSec: number = DEVICE_CODE_LIFETIME_SEC) {
    this.#now = now;
    this.#lifetimeSec = lifetimeSec;
  }

  /** Seconds a new code lives (the `expires_in` the client is told). */
  get lifetimeSec(): number {
    return this.#lifetimeSec;
  }

  /** Pending authorizations now (expired ones do not count). */
  get pending(): number {
    this.#prune();
    return this.#pending.size;
  }

  /** Starts a device authorization for a client at `from` (its address), unless a bound is reached. */
  start(clientId: string, scopes: readonly string[], from: string, requested: RequestedSignIn = NOTHING_REQUESTED): StartResult {
    this.#prune();
    if (this.#pending.size >= MAX_PENDING_DEVICE_CODES) return { refused: 'full' };
    const held = this.#pendingByClient.get(from) ?? 0;
    if (held >= MAX_PENDING_DEVICE_CODES_PER_CLIENT) return { refused: 'client_full' };
    const authorization: DeviceAuthorization = {
      deviceCode: randomBytes(DEVICE_CODE_BYTES).toString('base64url'),
      userCode: this.#newUserCode(),
      clientId,
      scopes,
      expiresAt: this.#now() + this.#lifetimeSec * 1000,
      approvedOid: null,
      requested,
      signIn: null,
      refusal: null,
    };
    this.#byDeviceCode.set(authorization.deviceCode, authorization);
    this.#byUserCode.set(authorization.userCode, authorization);
    this.#pending.set(authorization, from);
    this.#pendingByClient.set(from, held + 1);
    return { started: authorization };
  }

  /** What the pending authorization with this user code asked the sign-in to prove; null when there is none. */
  requestedFor(userCode: string): RequestedSignIn | null {
    const authorization = this.#byUserCode.get(normalizeUserCode(userCode));
    return authorization && authorization.approvedOid === null && authorization.refusal === null ? authorization.requested : null;
  }

  /** Approves the authorization a person typed the user code of, with what their sign-in proved. */
  approve(userCode: string, oid: string, signIn: SignInRecord | null = null): ApproveResult {
    return this.#settle(userCode, (authorization) => {
      authorization.approvedOid = oid;
      authorization.signIn = signIn;
    });
  }

  /**
   * Ends the authorization with `error` (its next poll gets it), as Entra ends a sign-in it refused:
   * the person declined, the tenant blocks device code sign-in, or the user lacks what was asked.
   */
  refuse(userCode: string, error: EntraError): ApproveResult {
    return this.#settle(userCode, (authorization) => {
      authorization.refusal = error;
    });
  }

  #settle(userCode: string, decide: (authorization: DeviceAuthorization) => void): ApproveResult {
    const authorization = this.#byUserCode.get(normalizeUserCode(userCode));
    if (!authorization || authorization.approvedOid !== null || authorization.refusal !== null) return 'unknown';
    if (this.#expired(authorization)) return 'expired';
    decide(authorization);
    return 'approved';
  }

  /** The client's poll. An approved authorization is handed out once and then forgotten. */
  poll(deviceCode: string, clientId: string): PollResult {
    const authorization = this.#byDeviceCode.get(deviceCode);
    if (!authorization) return { state: 'unknown' };
    if (authorization.clientId !== clientId) return { state: 'other_client' };
    if (this.#expired(authorization)) return { state: 'expired' };
    if (authorization.refusal !== null) {
      this.#forget(authorization);
      return { state: 'refused', error: authorization.refusal };
    }
    if (authorization.approvedOid === null) return { state: 'pending' };
    this.#forget(authorization);
    return { state: 'approved', authorization };
  }

  #expired(authorization: DeviceAuthorization): boolean {
    return this.#now() >= authorization.expiresAt;
  }

  #forget(authorization: DeviceAuthorization): void {
    this.#release(authorization);
    this.#byDeviceCode.delete(authorization.deviceCode);
    this.#byUserCode.delete(authorization.userCode);
  }

  /** Stops counting `authorization` against the bounds (it expired, or was collected). */
  #release(authorization: DeviceAuthorization): void {
    const from = this.#pending.get(authorization);
    if (from === undefined) return;
    this.#pending.delete(authorization);
    const left = (this.#pendingByClient.get(from) ?? 1) - 1;
    if (left > 0) this.#pendingByClient.set(from, left);
    else this.#pendingByClient.delete(from);
  }

  #prune(): void {
    const now = this.#now();
    const cutoff = now - EXPIRED_RETENTION_MS;
    for (const authorization of this.#byDeviceCode.values()) {
      if (authorization.expiresAt <= cutoff) this.#forget(authorization);
      else if (now >= authorization.expiresAt) this.#release(authorization);
    }
  }

  #newUserCode(): string {
    for (;;) {
      let code = '';
      for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
      if (!this.#byUserCode.has(code)) return code;
    }
  }
}
