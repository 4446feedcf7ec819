// The YAML form of a resource's `conditions:` and of the broker's `trustedProxies:` (see
// broker/policy/conditions.ts for what each condition means, README "Conditions" for people).

import { z } from 'zod';
import type { ResourceConditions } from '../policy/conditions.js';
import { parseHours } from '../policy/hours.js';
import { NetworkList, parseNetwork, type Network } from '../policy/networks.js';
import { duration, strictMapping } from './fields.js';

/** Entra authentication context ids are c1 … c99 (Conditional Access, "Authentication context"). */
export const AUTH_CONTEXT_ID = /^c([1-9]|[1-9][0-9])$/;
/** A sign-in age above 90 days is no limit: Entra's refresh tokens live that long anyway. */
export const MAX_SIGN_IN_AGE_MS = 90 * 86_400_000;

/** A list of CIDR blocks; each bad entry is reported at its index. */
export function networkList(hint: string) {
  return z
    .array(z.string({ error: `must be a CIDR block such as 10.0.0.0/8 — ${hint}` }), { error: `must be a list of CIDR blocks — ${hint}` })
    .transform((items, ctx): NetworkList => {
      const networks: Network[] = [];
      items.forEach((item, index) => {
        const parsed = parseNetwork(item);
        if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', path: [index], message: parsed, input: item });
        else networks.push(parsed);
      });
      return new NetworkList(networks);
    });
}

export function conditionsSchema() {
  return strictMapping(
    {
      requireMfa: z.boolean({ error: 'must be true or false — true: only a multi-factor sign-in may use this resource' }).default(false),
      requireAuthContext: z
        .string({ error: 'must be an Entra authentication context id, c1 to c99' })
        .regex(AUTH_CONTEXT_ID, { error: 'must be an Entra authentication context id, c1 to c99 (Conditional Access → Authentication context)' })
        .optional(),
      maxSignInAge: duration(
        'how long after signing in a person may use this resource, e.g. 8h',
        MAX_SIGN_IN_AGE_MS,
        'Entra refresh tokens last 90 days',
      ).optional(),
      sourceNetworks: networkList('the client addresses allowed, e.g. [10.0.0.0/8, 2001:db8::/32]')
        .refine((list) => list.networks.length > 0, { error: 'must name at least one network — remove sourceNetworks to allow any address' })
        .optional(),
      hours: z
        .string({ error: 'must be text such as "Mon-Fri 07:00-19:00 Europe/Berlin"' })
        .transform((value, ctx) => {
          const parsed = parseHours(value);
          if (typeof parsed !== 'string') return parsed;
          ctx.addIssue({ code: 'custom', message: parsed, input: value });
          return z.NEVER;
        })
        .optional(),
    },
    'conditions: requireMfa, requireAuthContext, maxSignInAge, sourceNetworks, hours (README, "Conditions")',
  ).transform(
    (raw): ResourceConditions => ({
      requireMfa: raw.requireMfa,
      requireAuthContext: raw.requireAuthContext ?? null,
      maxSignInAgeMs: raw.maxSignInAge ?? null,
      sourceNetworks: raw.sourceNetworks ?? null,
      hours: raw.hours ?? null,
    }),
  );
}
