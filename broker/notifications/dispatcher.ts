// Delivers the notification outbox: asynchronously, after the change that caused a notice has
// committed, so a slow or failing destination never delays or fails a decision. Each try is one
// HTTP POST with a timeout; a failure is logged (`notification delivery failed`) and retried with
// exponential backoff and jitter (retryDelay) until the config's attempts are spent, then logged
// as an error and given up. Rows live in the store, so a restarted broker resumes where it stopped.
// With several brokers on one database each try is claimed first (NotificationOutbox.claimNext), so
// one broker makes it; a broker that dies mid-try leaves the row to another once the lease lapses.

import { retryDelay } from '../../shared/backoff.js';
import type { RequestView } from '../../shared/wire.js';
import type { NotificationDestination, NotificationsConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { RequestChange } from '../requests/types.js';
import type { NotificationOutbox, OutboxRow } from '../store/notification-outbox.js';
import { DELIVERY_HEADER, SIGNATURE_HEADER, signature, slackMessage, teamsMessage, webhookMessage } from './formats.js';
import { expiringNotice, noticesFor, type Notice } from './notice.js';

/** One try waits at most this long for the destination's answer. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** Rows taken per pass; the next pass follows at once when more are due. */
const BATCH = 20;
/**
 * How long a claimed row is left to the broker that claimed it: one try takes at most
 * DELIVERY_TIMEOUT_MS, so a live broker records its outcome well within the lease; a broker that
 * died mid-try delays that notice by at most this much.
 */
export const DELIVERY_LEASE_MS = 60_000;
/** The longest sleep between looks at the outbox, also when nothing waits (also setTimeout's comfort zone). */
export const MAX_SLEEP_MS = 60_000;
/** Text of a failed answer kept in the log and the outbox. */
const ERROR_TEXT_CHARS = 200;

/** What one POST answered: ok, or why not. */
export type PostResult = { ok: true } | { ok: false; error: string };
/** `stop` aborts a POST in flight (the broker is shutting down; the notice stays in the outbox). */
export type Post = (url: string, headers: Record<string, string>, body: string, stop: AbortSignal) => Promise<PostResult>;

/** POST with fetch: 2xx is delivered; anything else (status, network error, timeout) is a failure. */
export const fetchPost: Post = async (url, headers, body, stop) => {
  try {
    const signal = AbortSignal.any([AbortSignal.timeout(DELIVERY_TIMEOUT_MS), stop]);
    const res = await fetch(url, { method: 'POST', headers, body, signal, redirect: 'error' });
    if (res.ok) {
      await res.body?.cancel();
      return { ok: true };
    }
    const text = (await res.text()).slice(0, ERROR_TEXT_CHARS);
    return { ok: false, error: `HTTP ${res.status}${text ? `: ${text}` : ''}` };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
};

export interface DispatcherOptions {
  config: NotificationsConfig;
  outbox: NotificationOutbox;
  now: () => number;
  log: Logger;
  /** Default fetchPost. */
  post?: Post;
  /** Default Math.random. */
  random?: () => number;
  /** Told the outcome of every try (the broker's metrics). */
  onTry?: (destination: string, outcome: 'delivered' | 'failed' | 'given_up') => void;
}

export class NotificationDispatcher {
  readonly #options: DispatcherOptions;
  readonly #destinations: ReadonlyMap<string, NotificationDestination>;
  readonly #post: Post;
  readonly #random: () => number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = true;
  /** Aborted by stop(): a shutdown does not wait out a slow destination. */
  #stopping = new AbortController();

  constructor(options: DispatcherOptions) {
    this.#options = options;
    this.#destinations = new Map(options.config.destinations.map((d) => [d.name, d]));
    this.#post = options.post ?? fetchPost;
    this.#random = options.random ?? Math.random;
  }

  /**
   * Adds the notices of a committed change for every destination that wants them. Called inside
   * the change's transaction (RequestService), so they commit with it or not at all.
   */
  enqueueChange(view: RequestView, changes: readonly RequestChange[], at: number): void {
    this.#enqueue(noticesFor(view, changes, at), at);
  }

  /** Adds the `expiring` notice of a grant (its own small transaction is the caller's). */
  enqueueExpiring(view: RequestView, inMs: number, at: number): void {
    // Every broker's scheduler warns of the same expiry: one notice per grant and end time.
    this.#enqueue([expiringNotice(view, inMs, at)], at, `expiring:${view.id}:${view.expiresAt}`);
  }

  /** `key` names a notice several brokers may raise (its delivery id per destination); absent, each is new. */
  #enqueue(notices: readonly Notice[], at: number, key?: string): void {
    for (const notice of notices) {
      for (const destination of this.#destinations.values()) {
        if (!destination.events.includes(notice.kind)) continue;
        this.#options.outbox.enqueue(destination.name, notice, at, key === undefined ? undefined : `${key}:${destination.name}`);
      }
    }
  }

  /** Delivers what is already waiting (left by a previous run), then keeps watch. */
  start(): void {
    this.#stopped = false;
    this.#stopping = new AbortController();
    const waiting = this.#options.outbox.waiting();
    if (waiting > 0) this.#options.log.info('notifications waiting from before the start', { waiting });
    this.kick();
  }

  /** Looks at the outbox now (after a change committed). Never throws, never waits. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#arm(0);
  }

  /** Stops the timer, aborts a POST in flight (recorded as a failed try, retried after a restart) and waits for the pass. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#stopping.abort();
    await this.#running;
  }

  /** Resolves when no pass is running (tests). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #arm(delay: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#running = this.#pass().finally(() => {
        this.#running = null;
        this.#afterPass();
      });
    }, delay);
    this.#timer.unref();
  }

  #afterPass(): void {
    if (this.#stopped) return;
    if (this.#again) {
      this.#again = false;
      this.#arm(0);
      return;
    }
    let next: number | null;
    try {
      next = this.#options.outbox.nextDue();
    } catch (error) {
      this.#options.log.error('notification outbox cannot be read', { error: error instanceof Error ? error.message : String(error) });
      next = this.#options.now() + MAX_SLEEP_MS;
    }
    // Even with nothing waiting it looks again: another broker on the database may have left rows
    // (it died before delivering them, or while its claim on one was running).
    this.#arm(next === null ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(0, next - this.#options.now())));
  }

  async #pass(): Promise<void> {
    try {
      for (let taken = 0; taken < BATCH; taken += 1) {
        if (this.#stopped) return;
        const row = this.#options.outbox.claimNext(this.#options.now(), DELIVERY_LEASE_MS);
        if (!row) return;
        await this.#deliver(row);
      }
      this.#again = true;
    } catch (error) {
      this.#options.log.error('notification pass failed', { error: error instanceof Error ? error.stack : String(error) });
    }
  }

  async #deliver(row: OutboxRow): Promise<void> {
    const { outbox, log, config } = this.#options;
    const destination = this.#destinations.get(row.destination);
    const attempt = row.attempts + 1;
    if (!destination) {
      // The destination left the config since the notice was written: nobody to tell.
      outbox.failed(row, 'destination no longer configured', null, this.#options.now());
      log.warn('notification dropped: its destination is no longer configured', {
        destination: row.destination,
        kind: row.notice.kind,
        delivery: row.deliveryId,
      });
      return;
    }
    const { headers, body } = this.#request(destination, row);
    const result = await this.#post(destination.url, headers, body, this.#stopping.signal);
    const now = this.#options.now();
    if (result.ok) {
      // Rare: this try outlived its lease and another broker took the row; receivers drop the repeat by its delivery id.
      if (!outbox.delivered(row, now)) log.warn('notification delivered after its claim lapsed', { destination: destination.name, delivery: row.deliveryId });
      this.#options.onTry?.(destination.name, 'delivered');
      if (attempt > 1)
        log.info('notification delivered after retries', { destination: destination.name, kind: row.notice.kind, attempts: attempt, delivery: row.deliveryId });
      return;
    }
    const fields = {
      destination: destination.name,
      kind: row.notice.kind,
      request: row.notice.request.id,
      attempt,
      delivery: row.deliveryId,
      error: result.error,
    };
    if (attempt >= config.maxAttempts) {
      outbox.failed(row, result.error, null, now);
      this.#options.onTry?.(destination.name, 'given_up');
      log.error('notification given up', { ...fields, attempts: attempt });
      return;
    }
    const wait = retryDelay(attempt, config.firstRetryMs, config.maxRetryMs, this.#random);
    outbox.failed(row, result.error, now + wait, now);
    this.#options.onTry?.(destination.name, 'failed');
    log.warn('notification delivery failed', { ...fields, retryInMs: wait });
  }

  #request(destination: NotificationDestination, row: OutboxRow): { headers: Record<string, string>; body: string } {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'access-broker' };
    switch (destination.kind) {
      case 'slack':
        return { headers, body: JSON.stringify(slackMessage(row.notice)) };
      case 'teams':
        return { headers, body: JSON.stringify(teamsMessage(row.notice)) };
      case 'webhook': {
        const body = JSON.stringify(webhookMessage(row.notice, row.deliveryId));
        // Signed at each try: the timestamp is when it was sent, so a receiver can refuse old replays.
        const t = Math.floor(this.#options.now() / 1000);
        headers[SIGNATURE_HEADER] = signature(destination.secret ?? '', body, t);
        headers[DELIVERY_HEADER] = row.deliveryId;
        return { headers, body };
      }
    }
  }
}
