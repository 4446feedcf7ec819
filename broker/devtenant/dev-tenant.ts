// The embedded dev tenant of `access-broker dev`: an Entra-compatible identity provider and a
// Microsoft Graph emulator served by the broker's own loopback HTTP server. The broker's API owns
// /v1/...; `handle` answers every other path the dev tenant knows and returns false otherwise.
//
// MSAL refuses http authorities, so everything a client library is given (authority, discovery,
// Graph links) uses the https form of the origin (`publicOrigin`), and clients reach it through
// HttpTransport's `plaintextOrigins`. Pages a person opens use `browserOrigin` (plain http).
// Tokens carry the real Microsoft issuers, so the broker validates them exactly as in production.

import { createHmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccessError } from '../../shared/errors.js';
import type { DevDirectory } from '../config/types.js';
import { CLOUDS, type Cloud, type CloudName } from '../identity/clouds.js';
import { Applications } from './applications.js';
import { AppRegistry } from './apps.js';
import { federatedToken, federationIssuer } from './client-assertion.js';
import type { TenantContext } from './context.js';
import { AuthorizationCodes } from './auth-codes.js';
import { DEVICE_CODE_LIFETIME_SEC, DeviceCodes } from './device-codes.js';
import { handleDeviceLogin } from './devicelogin-page.js';
import { Directory, validateDirectory } from './directory.js';
import { FormGuard, refuseCrossSitePost } from './form-guard.js';
import { handleGraphApplications } from './graph-application-routes.js';
import { VerifiedGraphTokens } from './graph-tokens.js';
import { type GraphFault, GraphFaultPlan, type GraphFaults } from './graph-faults.js';
import { handleGraph } from './graph-routes.js';
import { handleIdp } from './idp-routes.js';
import { handleManagedIdentity, MANAGED_IDENTITY_PATH, writeManagedIdentityEnv } from './managed-identity-routes.js';
import { generateSigningKey, type NewSigningKey, SigningKeys } from './signing-keys.js';
import { TenantStateStore } from './state.js';
import { TokenIssuer } from './tokens.js';

/** Entra's default access token lifetime (it varies 60–90 minutes; one hour is the usual). */
export const DEFAULT_ACCESS_TOKEN_LIFETIME_SEC = 3600;

export interface DevTenantOptions {
  /** https origin used in the authority, discovery metadata and Graph nextLinks, e.g. `https://127.0.0.1:4780`. */
  publicOrigin: string;
  /** Origin of the pages a person opens (plain http in dev), e.g. `http://127.0.0.1:4780`. */
  browserOrigin: string;
  /** Users and groups. */
  directory: DevDirectory;
  /**
   * When set, the tenant id, app ids and secrets, object ids and signing keys persist there
   * (file 0600, dir 0700) and reopening gives the same tenant. Default null: a new tenant each time.
   */
  dataDir?: string | null;
  /** Lifetime of access and id tokens in seconds. Default DEFAULT_ACCESS_TOKEN_LIFETIME_SEC. */
  accessTokenLifetimeSec?: number;
  /**
   * The Entra cloud the tenant presents itself as: its tokens carry that cloud's issuers and its
   * Graph tokens that cloud's Graph as audience (its endpoints stay on publicOrigin). Default public.
   */
  cloud?: CloudName;
  /** Clock in milliseconds since the epoch. Default Date.now. */
  now?: () => number;
  /**
   * Where new signing keys come from (a fresh tenant's first key, each rotation). Default
   * generateSigningKey, a new RSA key each time; tests hand out pre-generated ones, because
   * generating RSA keys was most of the unit tests' time.
   */
  newSigningKey?: NewSigningKey;
  /** Simulated Graph faults (graph-faults.ts, fault tests of a dev broker process). Default: none. */
  graphFault?: () => GraphFault;
  /**
   * Block device code sign-in the way a Conditional Access policy does (Microsoft's managed "Block
   * device code flow"): the person can still enter the code, and the client's poll then fails with
   * AADSTS53003; interactive (browser) sign-in still works. Default false.
   */
  blockDeviceCode?: boolean;
  /** Seconds a device code lives (the `expires_in` clients are told). Default Entra's 900. */
  deviceCodeLifetimeSec?: number;
}

export interface DevTenantUser {
  oid: string;
  upn: string;
  name: string;
  /** Names of the user's direct groups. */
  groups: string[];
  /** Can complete a sign-in that asks for MFA (DevUser.mfa). */
  mfa: boolean;
}

export class DevTenant {
  readonly tenantId: string;
  readonly authority: string;
  readonly jwksUri: string;
  readonly graphBaseUrl: string;
  readonly cliClientId: string;
  readonly api: { clientId: string; appIdUri: string; scope: string };
  readonly graphApp: { clientId: string; clientSecret: string };
  readonly automationApp: { clientId: string; clientSecret: string };
  /**
   * Holds Graph `GroupMember.ReadWrite.All`: with a client-credentials token it may add and remove
   * direct group members through the Graph emulator of a running dev broker (its id and secret are
   * in `<data>/tenant/dev-tenant.json` under apps.directoryAdmin).
   */
  readonly directoryAdminApp: { clientId: string; clientSecret: string };

  /**
   * An App Service-style managed identity endpoint for the Graph app: IDENTITY_ENDPOINT and
   * IDENTITY_HEADER for MSAL's ManagedIdentityApplication. The header is derived from the tenant's
   * persisted secrets, so it stays the same across restarts with a data dir.
   */
  readonly managedIdentity: { endpoint: string; header: string };

  readonly #ctx: TenantContext;
  readonly #store: TenantStateStore;
  readonly #newSigningKey: NewSigningKey;
  #graphAvailable = true;
  #deviceCodeBlocked: boolean;
  readonly #graphFaults = new GraphFaultPlan();
  /** The cloud the tenant presents itself as (DevTenantOptions.cloud). */
  readonly cloud: Cloud;

  private constructor(options: Required<Omit<DevTenantOptions, 'dataDir'>>, store: TenantStateStore) {
    const { state } = store;
    const cloud = CLOUDS[options.cloud];
    this.cloud = cloud;
    const directory = new Directory(options.directory, state.objectIds);
    const keys = new SigningKeys(state.signingKeys);
    const apps = new AppRegistry(state.apps, cloud.graphHost);
    const managedIdentityHeader = createHmac('sha256', state.refreshTokenSecret).update('managed identity header').digest('base64url');
    this.#store = store;
    this.#newSigningKey = options.newSigningKey;
    this.#deviceCodeBlocked = options.blockDeviceCode;
    this.#ctx = {
      tenantId: state.tenantId,
      publicOrigin: options.publicOrigin,
      browserOrigin: options.browserOrigin,
      directory,
      apps,
      applications: new Applications(apps),
      managedIdentityHeader,
      keys,
      tokens: new TokenIssuer({
        tenantId: state.tenantId,
        keys,
        refreshTokenSecret: state.refreshTokenSecret,
        accessTokenLifetimeSec: options.accessTokenLifetimeSec,
        cloud,
        now: options.now,
      }),
      deviceCodes: new DeviceCodes(options.now, options.deviceCodeLifetimeSec),
      authCodes: new AuthorizationCodes(options.now),
      deviceCodeBlocked: () => this.#deviceCodeBlocked,
      forms: new FormGuard(options.now),
      now: options.now,
      graphAvailable: () => this.#graphAvailable && options.graphFault() !== 'down',
      graphStalled: () => options.graphFault() === 'stall',
      graphTokens: new VerifiedGraphTokens(),
      graphFaults: this.#graphFaults,
      cloud,
    };
    this.tenantId = state.tenantId;
    this.authority = `${options.publicOrigin}/${state.tenantId}`;
    this.jwksUri = `${this.authority}/discovery/v2.0/keys`;
    this.graphBaseUrl = `${options.publicOrigin}/graph`;
    this.cliClientId = apps.cli.clientId;
    this.api = { clientId: apps.api.clientId, appIdUri: apps.apiAppIdUri, scope: apps.apiScope };
    this.graphApp = { clientId: apps.graph.clientId, clientSecret: apps.graph.clientSecret as string };
    this.automationApp = { clientId: apps.automation.clientId, clientSecret: apps.automation.clientSecret as string };
    this.directoryAdminApp = { clientId: apps.directoryAdmin.clientId, clientSecret: apps.directoryAdmin.clientSecret as string };
    this.managedIdentity = { endpoint: `${options.browserOrigin}${MANAGED_IDENTITY_PATH}`, header: managedIdentityHeader };
  }

  static async open(options: DevTenantOptions): Promise<DevTenant> {
    const accessTokenLifetimeSec = options.accessTokenLifetimeSec ?? DEFAULT_ACCESS_TOKEN_LIFETIME_SEC;
    if (!Number.isInteger(accessTokenLifetimeSec) || accessTokenLifetimeSec <= 0) {
      throw new AccessError('config_invalid', `dev tenant access token lifetime ${accessTokenLifetimeSec} s must be a positive whole number of seconds`);
    }
    const deviceCodeLifetimeSec = options.deviceCodeLifetimeSec ?? DEVICE_CODE_LIFETIME_SEC;
    if (!Number.isInteger(deviceCodeLifetimeSec) || deviceCodeLifetimeSec <= 0 || deviceCodeLifetimeSec > DEVICE_CODE_LIFETIME_SEC) {
      throw new AccessError(
        'config_invalid',
        `dev tenant device code lifetime ${deviceCodeLifetimeSec} s must be a whole number of seconds from 1 to ${DEVICE_CODE_LIFETIME_SEC} (Entra's)`,
      );
    }
    const publicOrigin = origin(options.publicOrigin, 'publicOrigin');
    const browserOrigin = origin(options.browserOrigin, 'browserOrigin');
    validateDirectory(options.directory);
    const now = options.now ?? Date.now;
    const newSigningKey = options.newSigningKey ?? generateSigningKey;
    const store = await TenantStateStore.open(options.dataDir ?? null, options.directory, now(), newSigningKey);
    const tenant = new DevTenant(
      {
        publicOrigin,
        browserOrigin,
        directory: options.directory,
        accessTokenLifetimeSec,
        cloud: options.cloud ?? 'public',
        now,
        newSigningKey,
        graphFault: options.graphFault ?? (() => null),
        blockDeviceCode: options.blockDeviceCode ?? false,
        deviceCodeLifetimeSec,
      },
      store,
    );
    if (options.dataDir) await writeManagedIdentityEnv(options.dataDir, tenant.managedIdentity);
    return tenant;
  }

  /** Device sign-ins pending now (device-codes.ts): for tests and operations. */
  get pendingSignIns(): number {
    return this.#ctx.deviceCodes.pending;
  }

  /** The dev users, each with the names of their direct groups. */
  users(): DevTenantUser[] {
    return this.#ctx.directory.users().map((u) => ({ oid: u.oid, upn: u.upn, name: u.name, groups: [...u.groups], mfa: u.mfa }));
  }

  /** Answers a request on one of the dev tenant's paths; false when the path is not the dev tenant's. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://dev-tenant.invalid');
    return (
      (await handleDeviceLogin(this.#ctx, req, res, url)) ||
      refuseCrossSitePost(this.#ctx, req, res) ||
      (await handleManagedIdentity(this.#ctx, req, res, url)) ||
      (await handleGraphApplications(this.#ctx, req, res, url)) ||
      (await handleGraph(this.#ctx, req, res, url)) ||
      (await handleIdp(this.#ctx, req, res, url))
    );
  }

  /** Publishes a new signing key (older ones stay in the JWKS) and signs with it from now on. */
  async rotateSigningKey(): Promise<void> {
    const key = await this.#newSigningKey(this.#ctx.now());
    this.#ctx.keys.add(key);
    this.#store.state.signingKeys = this.#ctx.keys.stored();
    await this.#store.save();
  }

  /** Adds or removes a user's direct membership of a group, live (not persisted). */
  setGroupMembership(upn: string, group: string, member: boolean): void {
    this.#ctx.directory.setMembership(upn, group, member);
  }

  /**
   * A JWT signed by the dev tenant acting as an external identity provider (its federation issuer,
   * see client-assertion.ts), as AKS or GitHub Actions put in a federated token file.
   */
  federatedToken(subject: string, audience?: string): Promise<string> {
    return federatedToken(this.#ctx, subject, audience);
  }

  /** The issuer of federatedToken's JWTs: what a federated credential on an app names. */
  get federationIssuer(): string {
    return federationIssuer(this.#ctx);
  }

  /** Grants or revokes a Graph application permission of one of the tenant's apps (admin consent), live. */
  setGraphPermission(clientId: string, role: string, granted: boolean): void {
    const application = this.#ctx.applications.find(clientId);
    if (!application) throw new AccessError('not_found', `dev tenant has no app ${clientId}`);
    application.graphRoles = granted ? [...new Set([...application.graphRoles, role])] : application.graphRoles.filter((r) => r !== role);
  }

  /** While true, device code sign-in is blocked as by Conditional Access (DevTenantOptions.blockDeviceCode). */
  setDeviceCodeBlocked(blocked: boolean): void {
    this.#deviceCodeBlocked = blocked;
  }

  /** Whether device code sign-in is blocked now. */
  get deviceCodeBlocked(): boolean {
    return this.#deviceCodeBlocked;
  }

  /** While false, every Graph call answers 503 serviceNotAvailable (a simulated outage). */
  setGraphAvailable(available: boolean): void {
    this.#graphAvailable = available;
  }

  /** Makes Graph behave as a real tenant's may (throttling, limited information, strict advanced queries); see graph-faults.ts. */
  setGraphFaults(faults: Partial<GraphFaults>): void {
    this.#graphFaults.set(faults);
  }
}

/** The origin of `text` (scheme://host:port), refusing anything with a path, query or credentials. */
function origin(text: string, name: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AccessError('config_invalid', `dev tenant ${name} "${text}" is not a URL; give an origin such as https://127.0.0.1:4780`);
  }
  const bare = (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash && !url.username && !url.password;
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || !bare) {
    throw new AccessError('config_invalid', `dev tenant ${name} "${text}" must be an http(s) origin without a path, such as https://127.0.0.1:4780`);
  }
  return url.origin;
}
