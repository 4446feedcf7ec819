// Forward-auth decisions counted, not logged one by one: a proxy asks for every request, and an
// entry per request would bury the audit log. Each audit window ends with one `forward_auth.allowed`
// entry per grant (per workload and resource for service principals) and one `forward_auth.refused`
// entry per caller, resource and refusal code, each with its count and first and last instant.
// Pure: the endpoint adds decisions and drains the entries when the window ends.

import type { AccessError } from '../../shared/errors.js';
import { boundedCopy } from '../audit/request-entries.js';
import type { NewAuditEntry } from '../audit/entry.js';
import type { Principal } from '../auth/principal.js';
import type { Actor } from '../requests/types.js';
import { actorOf } from '../requests/wording.js';

/** Distinct keys counted in one window at most; past it the window is written early (memory stays bounded). */
export const MAX_TALLY_KEYS = 10_000;

interface Count {
  type: 'forward_auth.allowed' | 'forward_auth.refused';
  actor: Actor | null;
  subject: string | null;
  resource: string | null;
  details: Record<string, unknown>;
  count: number;
  firstAt: number;
  lastAt: number;
}

/** Who called: the person or workload, with what identifies a workload (its client id and name). */
function callerOf(principal: Principal): { actor: Actor; details: Record<string, unknown> } {
  const actor = actorOf(principal);
  if (principal.kind === 'user') return { actor, details: { kind: 'user' } };
  return { actor, details: { kind: 'workload', appId: principal.appId, appName: principal.name } };
}

export class DecisionTally {
  #counts = new Map<string, Count>();

  get keys(): number {
    return this.#counts.size;
  }

  allowed(principal: Principal, resource: string, grantId: string | null, at: number): void {
    const { actor, details } = callerOf(principal);
    const key = grantId === null ? `allowed app ${principal.oid} ${resource}` : `allowed grant ${grantId}`;
    this.#add(key, { type: 'forward_auth.allowed', actor, subject: grantId, resource, details }, at);
  }

  /** `principal` is null when the token itself was refused (401): those are counted per refusal code and source. */
  refused(principal: Principal | null, resource: string | null, error: AccessError, source: string | null, at: number): void {
    const caller = principal ? callerOf(principal) : { actor: null, details: { kind: 'unauthenticated', source } };
    const who = principal ? principal.oid : `anonymous ${source ?? ''}`;
    const key = `refused ${who} ${resource ?? ''} ${error.code}`;
    const details = { ...caller.details, code: error.code, message: error.message };
    this.#add(key, { type: 'forward_auth.refused', actor: caller.actor, subject: null, resource, details }, at);
  }

  /** The window's entries (oldest first), and a fresh window. */
  drain(windowStart: number, windowEnd: number): NewAuditEntry[] {
    const counts = [...this.#counts.values()];
    this.#counts = new Map();
    return counts
      .sort((a, b) => a.firstAt - b.firstAt)
      .map((c) => ({
        type: c.type,
        at: c.lastAt,
        actor: c.actor,
        subject: c.subject,
        resource: c.resource,
        body: {
          ...boundedCopy(c.details),
          count: c.count,
          firstAt: new Date(c.firstAt).toISOString(),
          lastAt: new Date(c.lastAt).toISOString(),
          window: { from: new Date(windowStart).toISOString(), to: new Date(windowEnd).toISOString() },
        },
      }));
  }

  #add(key: string, what: Omit<Count, 'count' | 'firstAt' | 'lastAt'>, at: number): void {
    const existing = this.#counts.get(key);
    if (existing) {
      existing.count += 1;
      existing.lastAt = Math.max(existing.lastAt, at);
      existing.details = what.details;
      return;
    }
    this.#counts.set(key, { ...what, count: 1, firstAt: at, lastAt: at });
  }
}
