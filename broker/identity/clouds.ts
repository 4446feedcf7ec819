// The Entra cloud instances a broker can serve. Each is a separate identity platform with its own
// sign-in host, token issuers and Microsoft Graph, and tokens of one are never valid in another
// (learn.microsoft.com/entra/identity-platform/authentication-national-cloud, /graph/deployments).
// One choice in the config (`tenant.cloud`) sets all of them together, so a broker cannot sign
// people in at one cloud and read groups from, or accept tokens of, another.

export const CLOUD_NAMES = ['public', 'usgov', 'china'] as const;
export type CloudName = (typeof CLOUD_NAMES)[number];

export interface Cloud {
  /** 'custom' when the hosts were written out in the config. */
  name: CloudName | 'custom';
  /** Where MSAL signs in and where the tenant's keys are published, e.g. https://login.microsoftonline.com. */
  authorityHost: string;
  /** Origin of v1 token issuers (`{origin}/{tenant}/`), used by API apps with accessTokenAcceptedVersion null or 1. */
  v1IssuerHost: string;
  /** Origins of v2 token issuers (`{origin}/{tenant}/v2.0`). */
  v2IssuerHosts: readonly string[];
  /** Microsoft Graph's root, e.g. https://graph.microsoft.com; its app-only scope is `{graphHost}/.default`. */
  graphHost: string;
}

export const CLOUDS: Readonly<Record<CloudName, Cloud>> = {
  public: {
    name: 'public',
    authorityHost: 'https://login.microsoftonline.com',
    v1IssuerHost: 'https://sts.windows.net',
    v2IssuerHosts: ['https://login.microsoftonline.com'],
    graphHost: 'https://graph.microsoft.com',
  },
  // Azure Government keeps the v1 issuer host of the global service (Microsoft Q&A 1190472, "token
  // issuers for the sovereign clouds"): v1 tokens differ by their keys and tenant, not their issuer host.
  usgov: {
    name: 'usgov',
    authorityHost: 'https://login.microsoftonline.us',
    v1IssuerHost: 'https://sts.windows.net',
    v2IssuerHosts: ['https://login.microsoftonline.us'],
    graphHost: 'https://graph.microsoft.us',
  },
  // 21Vianet publishes both sign-in hosts; its discovery documents name login.partner.microsoftonline.cn.
  china: {
    name: 'china',
    authorityHost: 'https://login.chinacloudapi.cn',
    v1IssuerHost: 'https://sts.chinacloudapi.cn',
    v2IssuerHosts: ['https://login.chinacloudapi.cn', 'https://login.partner.microsoftonline.cn'],
    graphHost: 'https://microsoftgraph.chinacloudapi.cn',
  },
};

/** The v1 issuer of `tenantId` in `cloud` (note the trailing slash Entra writes). */
export function v1IssuerOf(cloud: Cloud, tenantId: string): string {
  return `${cloud.v1IssuerHost}/${tenantId}/`;
}

/** The v2 issuers of `tenantId` in `cloud`; the first is the one Entra writes into new tokens. */
export function v2IssuersOf(cloud: Cloud, tenantId: string): string[] {
  return cloud.v2IssuerHosts.map((host) => `${host}/${tenantId}/v2.0`);
}

/** Every issuer a token of `tenantId` in `cloud` may carry. */
export function issuersOf(cloud: Cloud, tenantId: string): string[] {
  return [v1IssuerOf(cloud, tenantId), ...v2IssuersOf(cloud, tenantId)];
}

/** The client-credentials scope for Microsoft Graph of the cloud whose Graph root is `graphHost`. */
export function graphScopeOf(graphHost: string): string {
  return `${new URL(graphHost).origin}/.default`;
}
