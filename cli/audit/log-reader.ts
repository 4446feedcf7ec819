// Reading the raw audit log in sequence order, page by page, through `GET /v1/audit/events`: for
// `audit events` and `audit export` up to the head as it was when reading began, for
// `audit events --follow` on and on with the broker's long poll. Every page is asked for by
// `after_seq`, so nothing is skipped or repeated between pages, across a lost broker, or between
// one export and the next that resumes with `--after-seq`.

import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { AccessError, type ErrorCode } from '../../shared/errors.js';
import { DEFAULT_HTTP_TIMEOUT_MS } from '../../shared/http-transport.js';
import type { AuditEntryView, AuditEventsResponse } from '../../shared/wire.js';
import type { BrokerClient } from '../broker-client.js';

/**
 * Entries asked for per page. A `pg.query` entry carries up to 8 KiB of SQL (about twice that once
 * quotes and newlines are escaped in JSON); 250 of those stay well under the REST client's 8 MiB
 * response cap (shared/http-transport.ts), and an export of a million entries is 4,000 calls.
 */
export const PAGE_ENTRIES = 250;

/**
 * How long the broker holds a follow request open when nothing is new, in seconds: below the REST
 * client's idle timeout (DEFAULT_HTTP_TIMEOUT_MS, 15 s), which would otherwise cut a quiet poll.
 */
export const FOLLOW_WAIT_SECONDS = Math.floor(DEFAULT_HTTP_TIMEOUT_MS / 1000) - 5;

/** First wait before asking a lost broker again; it doubles up to RETRY_MAX_MS (a restart takes seconds). */
export const RETRY_FIRST_MS = 1_000;
export const RETRY_MAX_MS = 30_000;

/**
 * Failures a feed waits out, as a broker restart or a network drop looks from here: no connection,
 * the tenant unreachable (a fresh token may need it, and the dev tenant is the broker itself), a
 * load balancer's 502/503 page (not the broker's JSON), a broker saying it is shutting down or not
 * ready yet (starting), or a 500 from a broker on its way down. A failure that persists keeps being reported, once per wait,
 * until Ctrl-C.
 */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'broker_unreachable',
  'tenant_unreachable',
  'broker_response_invalid',
  'internal',
  'shutting_down',
  'not_ready',
]);

export type LogClient = Pick<BrokerClient, 'get'>;

export interface ReadLogOptions {
  /** Entries after this seq (0: from the first). */
  afterSeq: number;
  /** Only entries at or after this time (a duration back from now or an ISO time, see flags.ts). */
  since?: string;
  /** Keep reading new entries as they are appended, until `signal` aborts. */
  follow?: boolean;
  /** Stops reading (Ctrl-C); the pending call is abandoned. */
  signal: AbortSignal;
  /** Told when the broker cannot be reached while following, before each wait. */
  onLost?: (error: AccessError, retryInMs: number, afterSeq: number) => void;
  /** Told when the broker answers again after onLost. */
  onBack?: () => void;
  /** First retry wait; default RETRY_FIRST_MS (tests shorten it). */
  retryFirstMs?: number;
}

/** The page path: every query parameter the reader uses, in one place. */
export function eventsPath(afterSeq: number, options: { since?: string; limit?: number; wait?: number }): string {
  const query = new URLSearchParams({ after_seq: String(afterSeq) });
  if (options.since !== undefined) query.set('since', options.since);
  if (options.limit !== undefined) query.set('limit', String(options.limit));
  if (options.wait !== undefined) query.set('wait', String(options.wait));
  return `/v1/audit/events?${query.toString()}`;
}

/** The newest seq in the log right now (0 for an empty log). */
export async function headSeq(client: LogClient, signal: AbortSignal): Promise<number> {
  const page = await abortable(client.get<AuditEventsResponse>(eventsPath(0, { limit: 1 }), { signal }), signal);
  return page.headSeq;
}

/**
 * Hands each non-empty page to `onPage`, in seq order, and waits for it (so a slow reader of the
 * output slows the reading). Without `follow`, stops at the head as of the first page; with it,
 * runs until `signal` aborts. Resolves with the last seq handed over (or `afterSeq`).
 */
export async function readLog(client: LogClient, options: ReadLogOptions, onPage: (entries: AuditEntryView[]) => Promise<void> | void): Promise<number> {
  const { signal } = options;
  let afterSeq = options.afterSeq;
  let stopAt: number | null = null;
  let retryMs = options.retryFirstMs ?? RETRY_FIRST_MS;
  let lost = false;
  const since = options.since === undefined ? {} : { since: options.since };
  // Halved whenever an answer is too large for the client (entries written before the broker
  // bounded them can be big): a listing is read to its end whatever its entries weigh.
  let pageEntries = PAGE_ENTRIES;
  const path = (): string => eventsPath(afterSeq, { ...since, limit: pageEntries, ...(options.follow ? { wait: FOLLOW_WAIT_SECONDS } : {}) });

  while (!signal.aborted) {
    let page: AuditEventsResponse;
    try {
      page = await abortable(client.get<AuditEventsResponse>(path(), { signal }), signal);
    } catch (error) {
      if (signal.aborted) break;
      if (error instanceof AccessError && error.code === 'response_too_large' && pageEntries > 1) {
        pageEntries = Math.ceil(pageEntries / 2);
        continue;
      }
      if (!options.follow || !(error instanceof AccessError) || !TRANSIENT.has(error.code)) throw error;
      // A broker restarting or a network drop: wait and ask again from the same seq — nothing is lost.
      lost = true;
      options.onLost?.(error, retryMs, afterSeq);
      if (!(await pause(retryMs, signal))) break;
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      continue;
    }
    if (lost) {
      lost = false;
      retryMs = options.retryFirstMs ?? RETRY_FIRST_MS;
      options.onBack?.();
    }
    if (options.follow) {
      if (page.entries.length > 0) await onPage(page.entries);
      afterSeq = page.nextAfterSeq;
      continue;
    }
    // One snapshot: what was written after the first page is left for the next read.
    stopAt ??= page.headSeq;
    const limit = stopAt;
    const entries = page.entries.filter((e) => e.seq <= limit);
    if (entries.length > 0) {
      await onPage(entries);
      afterSeq = entries.at(-1)?.seq ?? afterSeq;
    }
    // An empty page: nothing more matches (with --since, the entries up to the head are all older).
    if (entries.length === 0 || afterSeq >= stopAt) break;
  }
  return afterSeq;
}

/** Rejects with an AbortError as soon as `signal` aborts, whether or not `work` listens to it. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    void work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function abortError(): Error {
  return new DOMException('stopped', 'AbortError');
}

/** Waits `ms`; false when `signal` aborted it. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** Waits until `stdout` has taken what was written, so a slow pipe slows the reading instead of filling memory. */
export async function drained(stdout: Writable): Promise<void> {
  if (stdout.writableNeedDrain) await once(stdout, 'drain');
}
