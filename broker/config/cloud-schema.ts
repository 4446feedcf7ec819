// `tenant.cloud`: which Entra cloud instance the tenant lives in, by name (public, usgov, china)
// or, for a cloud this table does not know, with its hosts written out. See broker/identity/clouds.ts.

import { z } from 'zod';
import { CLOUD_NAMES, CLOUDS, type Cloud, type CloudName } from '../identity/clouds.js';
import { httpsOrigin, strictMapping } from './fields.js';

const NAMED_HINT = `one of ${CLOUD_NAMES.join(', ')}, or { authorityHost, v1IssuerHost, graphHost }`;

export function cloudSchema() {
  const hosts = strictMapping(
    {
      authorityHost: httpsOrigin('the Entra sign-in host, e.g. https://login.microsoftonline.us'),
      v1IssuerHost: httpsOrigin('the host in v1 token issuers, e.g. https://sts.windows.net'),
      graphHost: httpsOrigin('Microsoft Graph of that cloud, e.g. https://graph.microsoft.us'),
      // A cloud may sign tokens under another host than the one it signs people in at (21Vianet's
      // login.partner.microsoftonline.cn; a tenant that presents itself as Microsoft's public cloud).
      v2IssuerHosts: z
        .array(httpsOrigin('a host in v2 token issuers, e.g. https://login.partner.microsoftonline.cn'))
        .min(1, 'must name at least one host — or leave it out: the authorityHost')
        .optional(),
    },
    `the cloud's hosts: ${NAMED_HINT}`,
  ).transform(
    (raw): Cloud => ({
      name: 'custom',
      authorityHost: raw.authorityHost,
      v1IssuerHost: raw.v1IssuerHost,
      v2IssuerHosts: raw.v2IssuerHosts ?? [raw.authorityHost],
      graphHost: raw.graphHost,
    }),
  );
  const named = z.string().transform((value, ctx): Cloud => {
    const cloud = (CLOUDS as Record<string, Cloud | undefined>)[value.trim().toLowerCase()];
    if (cloud === undefined || !Object.hasOwn(CLOUDS, value.trim().toLowerCase())) {
      ctx.addIssue({ code: 'custom', message: `is not a cloud this broker knows — ${NAMED_HINT}`, input: value });
      return z.NEVER;
    }
    return CLOUDS[value.trim().toLowerCase() as CloudName];
  });
  return z
    .unknown()
    .transform((value, ctx): Cloud => {
      const schema = typeof value === 'string' ? named : hosts;
      const parsed = schema.safeParse(value, { reportInput: true });
      if (parsed.success) return parsed.data;
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom', path: [...issue.path] } as Parameters<typeof ctx.addIssue>[0]);
      return z.NEVER;
    })
    .default(CLOUDS.public);
}
