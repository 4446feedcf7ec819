// Changes other brokers commit on the shared PostgreSQL database, delivered to this broker's change
// listeners as if made here: a requester waiting on this broker is told of an approval made on
// another, `watch` streams see it, a revoke cuts the tunnels held here, an extension moves their end.
//
// The change log (store/change-log.ts) is the truth; notifications only say "read it now". After a
// notification, after every (re)connect of the listening connection, and on a slow timer, the log is
// read from the last seq seen. Writers on all brokers take one lock in turn, so seq order is commit
// order: reading `seq > last` misses nothing (numbers a rolled-back transaction took are simply
// never there). Nothing is written here.

import type { Logger } from '../log.js';
import type { SqlChangeLog } from '../store/change-log.js';
import type { RequestStore } from '../store/request-store.js';
import type { AccessRequest, RequestChange } from './types.js';

/**
 * How often the log is read when no notification came: the safety net for a notification lost
 * while the listening connection was down or reconnecting, or a connection that died silently.
 */
export const CATCH_UP_INTERVAL_MS = 5_000;
/** Rows read per query; a broker far behind reads page after page at once. */
const PAGE_ROWS = 500;

/** What tells RemoteChanges the log grew: the PostgreSQL LISTEN connection (store/postgres/channel-listener.ts). */
export interface ChangeSignal {
  start(): void;
  close(): Promise<void>;
}

export interface RemoteChangesOptions {
  changeLog: Pick<SqlChangeLog, 'lastSeq' | 'othersAfter'>;
  requests: Pick<RequestStore, 'get'>;
  /** Hands a change on to the listeners (RequestService.relay). */
  relay: (request: AccessRequest, changes: readonly RequestChange[]) => void;
  /** Builds the signal, given what to call on a notification and after each (re)connect. */
  signal: (handlers: { onNotify: () => void; onListening: () => void }) => ChangeSignal;
  log: Logger;
  /** Default CATCH_UP_INTERVAL_MS. */
  intervalMs?: number;
}

export class RemoteChanges {
  readonly #options: RemoteChangesOptions;
  readonly #signal: ChangeSignal;
  /** The newest seq handed on (or seen at start); null until started. */
  #last: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #woken = false;
  /** Whether the last read failed: logged once until one succeeds again. */
  #failing = false;

  constructor(options: RemoteChangesOptions) {
    this.#options = options;
    const wake = (): void => this.#wake();
    this.#signal = options.signal({ onNotify: wake, onListening: wake });
  }

  /**
   * Follows the log from its newest row: what came before is already in the store, which every
   * reader here consults. Throws when the database does not answer (the broker cannot start then).
   */
  start(): void {
    if (this.#last !== null) return;
    this.#last = this.#options.changeLog.lastSeq();
    this.#signal.start();
    this.#timer = setInterval(() => this.catchUp(), this.#options.intervalMs ?? CATCH_UP_INTERVAL_MS);
    // The broker's server keeps the process alive; this timer must not keep a stopping one.
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#signal.close();
    this.#last = null;
  }

  /** Hands on every change other brokers committed since the last one handed on; returns how many. */
  catchUp(): number {
    let handed = 0;
    try {
      for (;;) {
        if (this.#last === null) return handed;
        const page = this.#options.changeLog.othersAfter(this.#last, PAGE_ROWS);
        for (const row of page) {
          const request = this.#options.requests.get(row.requestId);
          // Rows reference their request, which is never deleted: a missing one has nothing to tell.
          if (request && row.changes.length > 0) this.#options.relay(request, row.changes);
          this.#last = row.seq;
          handed += 1;
        }
        if (page.length < PAGE_ROWS) break;
      }
      if (this.#failing) this.#options.log.info('reading other brokers’ changes again', { seq: this.#last });
      this.#failing = false;
    } catch (error) {
      // Read again on the next notification or tick, from the last change handed on: none is skipped.
      if (!this.#failing) {
        this.#options.log.error('cannot read other brokers’ changes; retrying', {
          seq: this.#last,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      this.#failing = true;
    }
    return handed;
  }

  /** A notification or reconnect: read soon, once for all the notifications that arrived together. */
  #wake(): void {
    if (this.#woken) return;
    this.#woken = true;
    setImmediate(() => {
      this.#woken = false;
      this.catchUp();
    });
  }
}
