// Real-tenant behaviour of Microsoft Graph the dev tenant can be told to show, so the broker's
// handling of it runs against the real Graph client in tests (DevTenant.setGraphFaults):
//   - throttling: the next N calls answer 429 with Retry-After (learn.microsoft.com/graph/throttling);
//   - limited information: group objects carry only their id, as an app granted just
//     User.Read.All sees them (no displayName);
//   - strict advanced queries: `transitiveMemberOf/microsoft.graph.group` without
//     `ConsistencyLevel: eventual` and `$count=true` is refused, as Microsoft documents the call.

import type { IncomingMessage } from 'node:http';
import { GraphFailure } from './graph-errors.js';
import type { GraphObject } from './graph-odata.js';

export interface GraphFaults {
  /** The next `calls` Graph calls answer 429 with `Retry-After: retryAfterSec`. */
  throttle: { calls: number; retryAfterSec: number } | null;
  /** Group objects come back with their id only. */
  limitedGroups: boolean;
  /** The OData cast on transitiveMemberOf needs ConsistencyLevel: eventual and $count=true. */
  requireConsistencyLevel: boolean;
}

export const NO_GRAPH_FAULTS: GraphFaults = { throttle: null, limitedGroups: false, requireConsistencyLevel: false };

/** The faults now in force; DevTenant holds one and the Graph routes consult it. */
export class GraphFaultPlan {
  #faults: GraphFaults = NO_GRAPH_FAULTS;

  set(faults: Partial<GraphFaults>): void {
    this.#faults = { ...this.#faults, ...faults };
  }

  /** Throws the 429 a throttled call gets (and counts it down). */
  beforeCall(): void {
    const throttle = this.#faults.throttle;
    if (throttle === null || throttle.calls <= 0) return;
    this.#faults = { ...this.#faults, throttle: throttle.calls > 1 ? { ...throttle, calls: throttle.calls - 1 } : null };
    throw new GraphFailure(
      429,
      'TooManyRequests',
      'Too many requests (simulated throttling of the dev tenant). Retry after the time in the Retry-After header.',
      { 'retry-after': String(throttle.retryAfterSec) },
    );
  }

  /** Refuses the OData cast without the advanced-query header and $count, when told to. */
  checkAdvancedQuery(req: IncomingMessage, url: URL): void {
    if (!this.#faults.requireConsistencyLevel) return;
    const header = req.headers['consistencylevel'];
    if (header === 'eventual' && url.searchParams.get('$count') === 'true') return;
    throw new GraphFailure(
      400,
      'Request_UnsupportedQuery',
      "The OData cast on transitiveMemberOf is an advanced query: send the header 'ConsistencyLevel: eventual' and '$count=true'.",
    );
  }

  /** A group object as this app may see it: everything, or its id alone (limited information). */
  groupAsSeen(group: GraphObject): GraphObject {
    if (!this.#faults.limitedGroups) return group;
    return Object.fromEntries(Object.entries(group).filter(([key]) => key === 'id' || key === '@odata.type'));
  }
}
