// The in-memory fan-out of request changes to connected event streams (`/v1/events`). It knows
// nothing of sockets: each subscriber is a delivery function plus who it is and its groups.
// Delivery rules (shared/wire.ts EventMessage): the requester receives every change to their
// requests; approvers receive every change to pending requests they can act on.

import type { EventMessage, GroupRef } from '../../shared/wire.js';
import type { Logger } from '../log.js';
import type { BrokerConfig } from '../config/types.js';
import { inAnyGroup } from '../identity/directory.js';
import type { AccessRequest, Actor, RequestChange } from '../requests/types.js';
import { toRequestView } from '../requests/view.js';

export type Deliver = (message: EventMessage) => void;

export interface Subscription {
  /** Replaces the groups the delivery rules see (after a re-read of the directory). */
  setGroups(groups: readonly GroupRef[]): void;
  /** Stops delivery; idempotent. */
  close(): void;
}

interface Subscriber {
  who: Actor;
  groups: readonly GroupRef[];
  deliver: Deliver;
}

/**
 * Changes an approver can act on or must know about to stop acting: those of a request that is
 * (or was, until this change) pending. `created` only counts while the request is still pending:
 * an auto-approved request never waited for anyone.
 */
const PENDING_CHANGES: ReadonlySet<RequestChange> = new Set([
  'review_recorded',
  'approved',
  'denied',
  'cancelled',
  'timed_out',
  'extension_review_recorded',
  'extended',
  'extension_denied',
  'extension_lapsed',
  // Break-glass: every approver of the resource is told at once, and when one post-reviewed it.
  'break_glass',
  'post_reviewed',
]);

function concernsApprovers(change: RequestChange, request: AccessRequest): boolean {
  if (change === 'extension_requested') return request.extensions.at(-1)?.state === 'pending';
  // An extension approved by policy is news for the requester only.
  if (change === 'extended' && request.extensions.at(-1)?.approvalsRequired === 0) return false;
  return PENDING_CHANGES.has(change) || (change === 'created' && request.state === 'pending');
}

export class EventHub {
  readonly #config: BrokerConfig;
  readonly #log: Logger | null;
  readonly #subscribers = new Set<Subscriber>();

  constructor(config: BrokerConfig, log: Logger | null = null) {
    this.#config = config;
    this.#log = log;
  }

  /** Number of open subscriptions (for logs and tests). */
  get size(): number {
    return this.#subscribers.size;
  }

  subscribe(who: Actor, groups: readonly GroupRef[], deliver: Deliver): Subscription {
    const subscriber: Subscriber = { who: { oid: who.oid, upn: who.upn }, groups, deliver };
    this.#subscribers.add(subscriber);
    return {
      setGroups: (next) => {
        subscriber.groups = next;
      },
      close: () => {
        this.#subscribers.delete(subscriber);
      },
    };
  }

  /** Sends one `request` message per change to everyone the change concerns. */
  publish(change: RequestChange, request: AccessRequest): void {
    const policy = this.#config.resources.find((r) => r.name === request.resource) ?? null;
    const message: EventMessage = { type: 'request', change, request: toRequestView(request, policy) };
    const toApprovers = policy !== null && concernsApprovers(change, request);
    for (const subscriber of this.#subscribers) {
      const isRequester = subscriber.who.oid === request.requester.oid;
      // A requester never acts on their own request, so approver rights add nothing for them.
      const isApprover = !isRequester && toApprovers && inAnyGroup(subscriber.groups, policy.approvers);
      if (isRequester || isApprover) this.#send(subscriber, message);
    }
  }

  /** Sends a message to every stream of one person (the `expiring` warning). */
  sendTo(oid: string, message: EventMessage): void {
    for (const subscriber of this.#subscribers) {
      if (subscriber.who.oid === oid) this.#send(subscriber, message);
    }
  }

  #send(subscriber: Subscriber, message: EventMessage): void {
    try {
      subscriber.deliver(message);
    } catch (error) {
      // One broken stream must not keep the others (or the transaction's caller) from going on.
      this.#log?.warn('event delivery failed', { oid: subscriber.who.oid, error: error instanceof Error ? error.message : String(error) });
    }
  }
}
