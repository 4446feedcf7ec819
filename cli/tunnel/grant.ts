// What `access connect NAME` needs before it opens anything: the caller's live grant on NAME (an
// approved request whose expiresAt is still ahead) and what the broker says about the resource
// (its kind, and its connection defaults when the broker provides them). Also: the words for
// "you have no grant", and a timer for the grant's end on our clock.

import { formatDuration } from '../../shared/duration.js';
import { AccessError } from '../../shared/errors.js';
import type { RequestsResponse, RequestView, ResourcesResponse, ResourceSummary } from '../../shared/wire.js';
import type { BrokerClient } from '../broker-client.js';
import type { ConnectionDefaults } from './environment.js';

/** A resource as /v1/resources lists it; a broker older than the connection defaults omits them. */
export type ConnectResource = ResourceSummary & ConnectionDefaults;

/**
 * setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days); a longer wait is taken in
 * steps of this size.
 */
const MAX_TIMER_MS = 2_147_483_647;
/** The duration suggested when the broker does not say the resource's default. */
const FALLBACK_DURATION = '1h';

/** The live grant on `resource` that lasts longest, or null. */
export function liveGrant(requests: readonly RequestView[], resource: string, now: number): RequestView | null {
  let best: RequestView | null = null;
  for (const view of requests) {
    if (view.resource !== resource || view.state !== 'approved' || !view.expiresAt) continue;
    const end = Date.parse(view.expiresAt);
    if (end > now && (!best || end > Date.parse(best.expiresAt ?? ''))) best = view;
  }
  return best;
}

/** Reads the caller's approved requests and the resource list (in parallel). */
export async function lookUp(client: BrokerClient, resource: string, now: number): Promise<{ grant: RequestView | null; resource: ConnectResource | null }> {
  const [mine, listed] = await Promise.all([client.get<RequestsResponse>('/v1/requests?state=approved'), client.get<ResourcesResponse>('/v1/resources')]);
  const found = listed.resources.find((r) => r.name === resource) ?? null;
  return { grant: liveGrant(mine.requests, resource, now), resource: found };
}

/** The exact command that asks for access to `name`, with its policy's default duration. */
export function requestCommandLine(name: string, resource: ConnectResource | null): string {
  const duration = resource ? formatDuration(resource.defaultDurationMs).replace(/ /g, '') : FALLBACK_DURATION;
  const ticket = resource?.ticketPattern ? ' --ticket ID' : '';
  return `access request ${name} --for ${duration} --reason "…"${ticket}`;
}

/** "You have no live grant for NAME." and what to run (exit 3). */
export function noLiveGrant(name: string, resource: ConnectResource | null): AccessError {
  if (!resource) {
    return new AccessError(
      'no_live_grant',
      `You have no live grant for ${name}, and ${name} is not a resource you may request — \`access resources\` lists the ones you may.`,
    );
  }
  return new AccessError(
    'no_live_grant',
    `You have no live grant for ${name}. Ask for one:\n  ${requestCommandLine(name, resource)}\nor ask and connect once approved: access connect ${name} --request --reason "…"`,
  );
}

/** Calls `fn` at `at` (epoch ms) as `now()` reads it at the start; returns the function that cancels. */
export function atTime(at: number, now: () => number, fn: () => void): () => void {
  let remaining = at - now();
  let timer: NodeJS.Timeout | null = null;
  const arm = (): void => {
    if (remaining <= 0) {
      timer = null;
      fn();
      return;
    }
    const step = Math.min(remaining, MAX_TIMER_MS);
    remaining -= step;
    timer = setTimeout(arm, step);
  };
  arm();
  return () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
}
