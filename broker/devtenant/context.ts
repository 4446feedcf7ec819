// What every route of the dev tenant works with. DevTenant builds it once; the route modules are
// functions of (context, request) so each can be read and tested on its own.

import type { Applications } from './applications.js';
import type { Cloud } from '../identity/clouds.js';
import type { AppRegistry } from './apps.js';
import type { AuthorizationCodes } from './auth-codes.js';
import type { DeviceCodes } from './device-codes.js';
import type { VerifiedGraphTokens } from './graph-tokens.js';
import type { GraphFaultPlan } from './graph-faults.js';
import type { Directory } from './directory.js';
import type { FormGuard } from './form-guard.js';
import type { SigningKeys } from './signing-keys.js';
import type { TokenIssuer } from './tokens.js';

export interface TenantContext {
  readonly tenantId: string;
  /** https origin in authority, metadata and Graph links. */
  readonly publicOrigin: string;
  /** Origin of the pages a person opens (the device-login page). */
  readonly browserOrigin: string;
  readonly directory: Directory;
  readonly apps: AppRegistry;
  /** The apps' settings and credentials as Graph's /applications shows them (changeable at run time). */
  readonly applications: Applications;
  /** The secret an App Service-style managed identity caller sends as X-IDENTITY-HEADER. */
  readonly managedIdentityHeader: string;
  readonly keys: SigningKeys;
  readonly tokens: TokenIssuer;
  readonly deviceCodes: DeviceCodes;
  /** Codes of the interactive (authorization code + PKCE) sign-in. */
  readonly authCodes: AuthorizationCodes;
  /** True while the tenant blocks device code sign-in the way a Conditional Access policy does. */
  readonly deviceCodeBlocked: () => boolean;
  /** Same-origin and form-token checks of form posts (form-guard.ts). */
  readonly forms: FormGuard;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Real-tenant Graph behaviour a test asked for (throttling, limited information, strict advanced queries). */
  readonly graphFaults: GraphFaultPlan;
  /** The cloud the tenant presents itself as: the issuers its tokens carry and its Graph resource. */
  readonly cloud: Cloud;
  /** False while a test simulates a Graph outage. */
  readonly graphAvailable: () => boolean;
  /** True while a fault test has Graph hold every call unanswered (graph-faults.ts). */
  readonly graphStalled: () => boolean;
  /** Graph tokens already verified (graph-auth.ts), so a token presented again is not verified again until it expires. */
  readonly graphTokens: VerifiedGraphTokens;
}
