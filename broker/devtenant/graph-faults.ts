// Graph faults the dev tenant can be told to show, so the broker's handling of them runs against
// the real Graph client. Two ways in: in-process (DevTenant.setGraphFaults, below) and, for a dev
// broker driven from outside as another process, a fault file (graphFaultsFromEnv, at the end).
// Real-tenant behaviour (DevTenant.setGraphFaults):
//   - throttling: the next N calls answer 429 with Retry-After (learn.microsoft.com/graph/throttling);
//   - limited information: group objects carry only their id, as an app granted just
//     User.Read.All sees them (no displayName);
//   - strict advanced queries: `transitiveMemberOf/microsoft.graph.group` without
//     `ConsistencyLevel: eventual` and `$count=true` is refused, as Microsoft documents the call.

import { readFileSync } from 'node:fs';
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

// Outages of a running dev broker's Graph, for fault tests driving it from outside (the
// broker is another process, so an in-process `setGraphAvailable` cannot reach it). Only when
// `access-broker dev` runs with ACCESS_DEV_GRAPH_FAULTS=<file>: the file is read on every Graph
// call, and its first word says what Graph does now —
//   down   every Graph call answers 503 serviceNotAvailable (an outage), at once;
//   stall  every Graph call is held unanswered until the caller gives up (a hung Graph);
//   anything else, an empty or missing file: Graph answers normally.
// Without the variable nothing is read and Graph cannot be made to fail: a real tenant never has this.

export const GRAPH_FAULTS_ENV = 'ACCESS_DEV_GRAPH_FAULTS';

export type GraphFault = 'down' | 'stall' | null;

/** What the fault file says now. */
export function readGraphFault(file: string): GraphFault {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const word = text.trim().split(/\s+/)[0];
  return word === 'down' || word === 'stall' ? word : null;
}

/** The fault source for ACCESS_DEV_GRAPH_FAULTS in `env`, or one that never faults. */
export function graphFaultsFromEnv(env: NodeJS.ProcessEnv): () => GraphFault {
  const file = env[GRAPH_FAULTS_ENV];
  return file ? () => readGraphFault(file) : () => null;
}
