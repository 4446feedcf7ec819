// `access audit sessions` follows the broker's cursors until --limit sessions or the last page;
// `access audit show` reads a story too large for one answer page by page.

import { describe, expect, it } from 'vitest';
import { AccessError } from '../../../shared/errors.js';
import { entryView, sessionView } from '../audit/views.js';
import { harness } from './fakes.js';

describe('access audit sessions, page by page', () => {
  it('follows next cursors until --limit sessions, asking only for what is still missing, and says there may be more', async () => {
    const h = harness({
      routes: {
        'GET /v1/audit/sessions?limit=3': () => ({ sessions: [sessionView({ id: 's5' }), sessionView({ id: 's4' })], next: 'c1' }),
        'GET /v1/audit/sessions?limit=1&cursor=c1': () => ({ sessions: [sessionView({ id: 's3' })], next: 'c2' }),
      },
    });
    expect(await h.run('audit', 'sessions', '--limit', '3', '--json')).toBe(0);
    expect((JSON.parse(h.stdout()) as { id: string }[]).map((s) => s.id)).toEqual(['s5', 's4', 's3']);
    expect(h.stderr()).toContain('there may be more');
  });

  it('reads to the last page and says nothing more when it ends there', async () => {
    const h = harness({
      routes: {
        'GET /v1/audit/sessions?limit=100': () => ({ sessions: [sessionView({ id: 's2' })], next: 'c1' }),
        'GET /v1/audit/sessions?limit=99&cursor=c1': () => ({ sessions: [sessionView({ id: 's1' })], next: null }),
      },
    });
    expect(await h.run('audit', 'sessions', '--json')).toBe(0);
    expect((JSON.parse(h.stdout()) as { id: string }[]).map((s) => s.id)).toEqual(['s2', 's1']);
    expect(h.stderr()).toBe('');
  });
});

describe('access audit show, page by page', () => {
  it('reads a story too large for one answer in pages after the last seq it has, and prints it whole', async () => {
    const story = (entries: number[], truncated: boolean) => ({
      id: 'r1',
      kind: 'request',
      requestId: 'r1',
      sessions: [],
      truncated,
      entries: entries.map((seq) => entryView(seq)),
    });
    const h = harness({
      routes: {
        'GET /v1/audit/show/r1': () => {
          throw new AccessError('response_too_large', 'too large');
        },
        'GET /v1/audit/show/r1?limit=250&after_seq=0': () => {
          throw new AccessError('response_too_large', 'too large');
        },
        'GET /v1/audit/show/r1?limit=125&after_seq=0': () => story([1, 2], true),
        'GET /v1/audit/show/r1?limit=125&after_seq=2': () => story([3], false),
      },
    });
    expect(await h.run('audit', 'show', 'r1', '--json')).toBe(0);
    const printed = JSON.parse(h.stdout()) as { entries: { seq: number }[]; truncated: boolean };
    expect(printed.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(printed.truncated).toBe(false);
  });
});
