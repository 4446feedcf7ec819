import { describe, expect, it } from 'vitest';
import { FOLLOW_WAIT_SECONDS, PAGE_ENTRIES, eventsPath, headSeq, readLog, type LogClient } from '../../../cli/audit/log-reader.js';
import { AccessError } from '../../../shared/errors.js';
import type { AuditEntryView, AuditEventsResponse } from '../../../shared/wire.js';
import { entryView } from './views.js';

/** A log of `n` entries served page by page like GET /v1/audit/events (no `since`). */
function logOf(n: number): AuditEntryView[] {
  return Array.from({ length: n }, (_, i) => entryView(i + 1));
}

function page(log: AuditEntryView[], afterSeq: number, limit: number): AuditEventsResponse {
  const entries = log.filter((e) => e.seq > afterSeq).slice(0, limit);
  return { entries, nextAfterSeq: entries.at(-1)?.seq ?? afterSeq, headSeq: log.at(-1)?.seq ?? 0 };
}

/** A client over `log` that records each path; `answer` may replace an answer (a long poll, a failure). */
function client(log: AuditEntryView[], answer?: (path: string, n: number) => Promise<AuditEventsResponse> | undefined): LogClient & { paths: string[] } {
  const paths: string[] = [];
  return {
    paths,
    async get<T>(path: string): Promise<T> {
      paths.push(path);
      const custom = answer?.(path, paths.length);
      if (custom) return (await custom) as T;
      const url = new URL(path, 'http://broker');
      return page(log, Number(url.searchParams.get('after_seq')), Number(url.searchParams.get('limit'))) as T;
    },
  };
}

describe('readLog without --follow', () => {
  it('reads every entry after after_seq in seq order, page by page, up to the head', async () => {
    const log = logOf(2 * PAGE_ENTRIES + 7);
    const c = client(log);
    const seen: number[] = [];
    const last = await readLog(c, { afterSeq: 5, signal: new AbortController().signal }, (entries) => {
      seen.push(...entries.map((e) => e.seq));
    });
    expect(seen).toEqual(log.slice(5).map((e) => e.seq));
    expect(last).toBe(log.length);
    expect(c.paths).toEqual([
      eventsPath(5, { limit: PAGE_ENTRIES }),
      eventsPath(5 + PAGE_ENTRIES, { limit: PAGE_ENTRIES }),
      eventsPath(5 + 2 * PAGE_ENTRIES, { limit: PAGE_ENTRIES }),
    ]);
  });

  it('reads on in smaller pages when a page is too large for the client, instead of failing (audit events, audit export)', async () => {
    const log = logOf(10);
    // A page of more than 3 entries is over the client's response cap (big entries written long ago).
    const c = client(log, (path) => {
      const limit = Number(new URL(path, 'http://broker').searchParams.get('limit'));
      return limit > 3 ? Promise.reject(new AccessError('response_too_large', 'too large')) : undefined;
    });
    const seen: number[] = [];
    await readLog(c, { afterSeq: 0, signal: new AbortController().signal }, (entries) => {
      seen.push(...entries.map((e) => e.seq));
    });
    expect(seen).toEqual(log.map((e) => e.seq));
    expect(
      c.paths.every((path) => eventsPath(0, { limit: PAGE_ENTRIES }) === path || Number(new URL(path, 'http://b').searchParams.get('limit')) < PAGE_ENTRIES),
    ).toBe(true);
  });

  it('stops at the head as of its first page even while the log grows', async () => {
    const log = logOf(PAGE_ENTRIES + 1);
    const c = client(log);
    const seen: number[] = [];
    await readLog(c, { afterSeq: 0, signal: new AbortController().signal }, (entries) => {
      seen.push(...entries.map((e) => e.seq));
      // Someone keeps writing: a page's worth more each time.
      log.push(...Array.from({ length: PAGE_ENTRIES }, (_, i) => entryView(log.length + i + 1)));
    });
    expect(seen.at(-1)).toBe(PAGE_ENTRIES + 1);
  });

  it('passes since along and ends on an empty page', async () => {
    const c = client([], () => Promise.resolve({ entries: [], nextAfterSeq: 0, headSeq: 40 }));
    expect(await readLog(c, { afterSeq: 0, since: '7d', signal: new AbortController().signal }, () => undefined)).toBe(0);
    expect(c.paths).toEqual([`/v1/audit/events?after_seq=0&since=7d&limit=${PAGE_ENTRIES}`]);
  });

  it('does not retry a lost broker: the error is the answer', async () => {
    const c = client([], () => Promise.reject(new AccessError('broker_unreachable', 'cannot reach the broker')));
    await expect(readLog(c, { afterSeq: 0, signal: new AbortController().signal }, () => undefined)).rejects.toThrow('cannot reach the broker');
  });
});

describe('readLog with --follow', () => {
  it('long-polls from the last seq it handed over, and stops when aborted while a poll waits', async () => {
    const log = logOf(3);
    const stop = new AbortController();
    let release: ((page: AuditEventsResponse) => void) | null = null;
    const c = client(log, (path, n) => {
      if (n === 2) return new Promise((resolve) => (release = resolve));
      if (n === 3) return new Promise(() => undefined); // a poll that never answers
      void path;
      return undefined;
    });
    const seen: number[] = [];
    const done = readLog(c, { afterSeq: 0, follow: true, signal: stop.signal }, (entries) => {
      seen.push(...entries.map((e) => e.seq));
    });
    await expect.poll(() => c.paths.length).toBe(2);
    expect(seen).toEqual([1, 2, 3]);
    release!({ entries: [entryView(4)], nextAfterSeq: 4, headSeq: 4 });
    await expect.poll(() => c.paths.length).toBe(3);
    expect(seen).toEqual([1, 2, 3, 4]);
    stop.abort();
    expect(await done).toBe(4);
    expect(c.paths).toEqual([0, 3, 4].map((after) => eventsPath(after, { limit: PAGE_ENTRIES, wait: FOLLOW_WAIT_SECONDS })));
  });

  it('waits out a lost broker or tenant and asks again from the same seq, saying so', async () => {
    const stop = new AbortController();
    const told: string[] = [];
    const c = client(logOf(2), (_path, n) => {
      if (n === 2) return Promise.reject(new AccessError('broker_unreachable', 'ECONNREFUSED'));
      // A fresh token may need the tenant, which the dev broker serves itself.
      if (n === 3) return Promise.reject(new AccessError('tenant_unreachable', 'ECONNREFUSED'));
      if (n === 4) return Promise.resolve({ entries: [entryView(3)], nextAfterSeq: 3, headSeq: 3 });
      if (n === 5) {
        stop.abort();
        return new Promise(() => undefined);
      }
      return undefined;
    });
    const seen: number[] = [];
    const last = await readLog(
      c,
      {
        afterSeq: 0,
        follow: true,
        signal: stop.signal,
        retryFirstMs: 5,
        onLost: (error, retryInMs, at) => told.push(`lost ${error.message} ${retryInMs} after ${at}`),
        onBack: () => told.push('back'),
      },
      (entries) => {
        seen.push(...entries.map((e) => e.seq));
      },
    );
    expect(seen).toEqual([1, 2, 3]);
    expect(last).toBe(3);
    expect(told).toEqual(['lost ECONNREFUSED 5 after 2', 'lost ECONNREFUSED 10 after 2', 'back']);
    expect(c.paths.slice(1, 4).map((p) => new URL(p, 'http://b').searchParams.get('after_seq'))).toEqual(['2', '2', '2']);
  });

  it.each(['broker_response_invalid', 'internal', 'shutting_down', 'not_ready'] as const)(
    "waits out %s too (a load balancer's 502 page, a broker on its way down or starting)",
    async (code) => {
      const stop = new AbortController();
      const c = client(logOf(1), (_path, n) => {
        if (n === 1) return Promise.reject(new AccessError(code, 'restarting'));
        if (n === 3) {
          stop.abort();
          return new Promise(() => undefined);
        }
        return undefined;
      });
      const seen: number[] = [];
      await readLog(c, { afterSeq: 0, follow: true, signal: stop.signal, retryFirstMs: 1 }, (entries) => {
        seen.push(...entries.map((e) => e.seq));
      });
      expect(seen).toEqual([1]);
    },
  );

  it('gives up on anything but a lost broker (not an auditor)', async () => {
    const c = client([], () => Promise.reject(new AccessError('not_an_auditor', 'Only members of the auditor groups')));
    await expect(readLog(c, { afterSeq: 0, follow: true, signal: new AbortController().signal, retryFirstMs: 1 }, () => undefined)).rejects.toMatchObject({
      code: 'not_an_auditor',
    });
  });
});

describe('headSeq', () => {
  it('asks for one entry and reads the head', async () => {
    const c = client(logOf(9));
    expect(await headSeq(c, new AbortController().signal)).toBe(9);
    expect(c.paths).toEqual(['/v1/audit/events?after_seq=0&limit=1']);
  });
});
