// What `access watch` missed while its events stream was down. Events sent during the gap are not
// replayed (the stream may come back through another broker), so after a reconnect the feed reads
// the current state once and reports what changed: decisions on your requests and grants (approved,
// denied, an approval recorded, an extension decided, the grant ended) and new requests waiting for
// your review. It compares with what the feed last knew of each request: the open requests and the
// review queue read when the feed started, and every event since.

import type { ApprovalView, EventMessage, RequestView } from '../shared/wire.js';
import type { BrokerClient } from './broker-client.js';
import { allPages } from './pages.js';
import { requestPath } from './request-format.js';

/** A request event, as the feed prints it. */
type RequestEvent = Extract<EventMessage, { type: 'request' }>;

/** The states in which a request of yours can still change. */
const OPEN_STATES = 'pending,approved';

/** Enough of a request to tell whether it changed: state, approvals, end, its last extension, the post-review. */
function fingerprint(view: RequestView): string {
  const extension = view.extensions?.at(-1);
  return JSON.stringify([
    view.state,
    view.approvals,
    view.expiresAt,
    extension ? [extension.seq, extension.state, extension.approvals] : null,
    view.postReview ? view.postReview.verdict : null,
  ]);
}

/** The change a missed event would have named, for the feed's words (watch.ts describeEvent). */
function changeOf(view: RequestView, before: RequestView | undefined): RequestEvent['change'] {
  const extension = view.extensions?.at(-1);
  const extensionBefore = before?.extensions?.at(-1);
  if (view.state === 'approved' && extension && JSON.stringify(extension) !== JSON.stringify(extensionBefore)) {
    switch (extension.state) {
      case 'pending':
        return extension.approvals > 0 ? 'extension_review_recorded' : 'extension_requested';
      case 'approved':
        return 'extended';
      case 'denied':
        return 'extension_denied';
      case 'lapsed':
        return 'extension_lapsed';
    }
  }
  if (view.state === 'pending') return view.approvals > 0 ? 'review_recorded' : 'created';
  return view.state;
}

/** What the feed knows of each request it has seen, and what changed since. Pure. */
export class WatchMemory {
  readonly #known = new Map<string, RequestView>();

  /** Remembers `view` as the latest known state of its request. */
  see(view: RequestView): void {
    this.#known.set(view.id, view);
  }

  /** Ids of known requests of `requester` still open when last seen (their change may have closed them). */
  openOf(requester: string): string[] {
    return [...this.#known.values()].filter((v) => v.requester.oid === requester && (v.state === 'pending' || v.state === 'approved')).map((v) => v.id);
  }

  /**
   * The events the feed missed, given the current views: a known request that changed, or (for
   * `reviewQueue` items) a request not seen before. Remembers the current views.
   */
  missed(current: readonly RequestView[], reviewQueue: readonly RequestView[]): RequestEvent[] {
    const events: RequestEvent[] = [];
    for (const view of current) {
      const before = this.#known.get(view.id);
      if (before && fingerprint(before) !== fingerprint(view)) events.push({ type: 'request', change: changeOf(view, before), request: view });
      this.see(view);
    }
    for (const view of reviewQueue) {
      if (!this.#known.has(view.id)) events.push({ type: 'request', change: changeOf(view, undefined), request: view });
      this.see(view);
    }
    return events;
  }
}

/** Your open requests and your review queue now. */
async function readOpen(client: BrokerClient): Promise<{ mine: RequestView[]; queue: ApprovalView[] }> {
  const [mine, queue] = await Promise.all([
    allPages<'requests', RequestView>(client, `/v1/requests?state=${OPEN_STATES}`, 'requests'),
    allPages<'approvals', ApprovalView>(client, '/v1/approvals', 'approvals'),
  ]);
  return { mine, queue };
}

/** Fills `memory` with what is open when the feed starts, so a change during a later gap is noticed. */
export async function rememberOpen(client: BrokerClient, memory: WatchMemory): Promise<void> {
  const { mine, queue } = await readOpen(client);
  for (const view of [...mine, ...queue]) memory.see(view);
}

/** Reads the current state after a reconnect and returns the events missed during the gap. */
export async function catchUp(client: BrokerClient, memory: WatchMemory, me: string): Promise<RequestEvent[]> {
  const { mine, queue } = await readOpen(client);
  const stillOpen = new Set(mine.map((view) => view.id));
  // Known open requests that left the open list were decided or ended during the gap: read each.
  const closed = await Promise.all(
    memory
      .openOf(me)
      .filter((id) => !stillOpen.has(id))
      .map((id) => client.get<RequestView>(requestPath(id))),
  );
  return memory.missed([...mine, ...closed], queue);
}
