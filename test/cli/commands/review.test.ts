import { describe, expect, it } from 'vitest';
import { AccessError } from '../../../shared/errors.js';
import { approvedView, carol, harness, makeApproval, makeView, NOW, scriptedPrompts } from './fakes.js';

describe('access review', () => {
  it('refuses without a terminal, naming the non-interactive commands (exit 2)', async () => {
    const h = harness({ tty: false });
    expect(await h.run('review')).toBe(2);
    expect(h.stderr()).toContain('`access approvals`');
    expect(h.stderr()).toContain('`access approve ID');
    expect(h.stderr()).toContain('`access deny ID --reason TEXT`');
    expect(h.log).toEqual([]);
  });

  it('shows each request with its context and sends the chosen decisions', async () => {
    const second = makeApproval({ id: 'r2', requester: { oid: 'oid-dave', upn: 'dave@contoso.com' } });
    const third = makeApproval({ id: 'r3' });
    const earlier = approvedView({ id: 'r0', requester: carol, createdAt: new Date(NOW - 3 * 86_400_000).toISOString(), reason: 'last incident' });
    const prompts = scriptedPrompts(['approve', 'deny', 'not today', 'skip']);
    const h = harness({
      tty: true,
      prompts,
      routes: {
        'GET /v1/break-glass': () => ({ requests: [] }),
        'GET /v1/approvals?limit=100': () => ({ approvals: [makeApproval({ recent: [earlier] }), second, third] }),
        'POST /v1/requests/r7f3c0a1b2/review': () => makeView({ requester: carol, approvalsRequired: 2, approvals: 1 }),
        'POST /v1/requests/r2/review': () => makeView({ id: 'r2', state: 'denied' }),
      },
    });
    expect(await h.run('review')).toBe(0);
    const out = h.stdout();
    expect(out).toContain('[1/3] Request r7f3c0a1b2 — prod-db for 1h');
    expect(out).toContain('Requester  carol@contoso.com');
    expect(out).toContain('Groups     sg-eng');
    expect(out).toContain('Reason     INC-4211: stuck migration');
    expect(out).toContain('Approvals  0 of 2 from sg-dba');
    expect(out).toMatch(/Recent {5}\d{4}-\d\d-\d\d \d\d:\d\d {2}APPROVED {2}1h {2}last incident/);
    expect(h.client.calls.slice(2).map((c) => [c.path, c.body])).toEqual([
      ['/v1/requests/r7f3c0a1b2/review', { decision: 'approve' }],
      ['/v1/requests/r2/review', { decision: 'deny', comment: 'not today' }],
    ]);
    expect(out).toContain('Reviewed: 1 approved, 1 denied, 1 skipped.');
  });

  it('shows an extension as such, with the grant and its earlier extensions, and sends the decision to the grant', async () => {
    const at = (minutesAgo: number): string => new Date(NOW - minutesAgo * 60_000).toISOString();
    const extension = (seq: number, state: 'approved' | 'pending', minutesAgo: number) => ({
      seq,
      durationMs: 30 * 60_000,
      reason: seq === 1 ? 'first overrun' : 'migration still running',
      requestedAt: at(minutesAgo),
      state,
      approvalsRequired: 1,
      approvals: state === 'approved' ? 1 : 0,
      reviews:
        state === 'approved' ? [{ reviewer: { oid: 'oid-bob', upn: 'bob@contoso.com' }, decision: 'approve' as const, comment: null, at: at(minutesAgo) }] : [],
      decidedAt: state === 'approved' ? at(minutesAgo) : null,
      previousExpiresAt: at(0),
    });
    const grantView = approvedView({ requester: carol, approvalsRequired: 1, extensions: [extension(1, 'approved', 40), extension(2, 'pending', 1)] });
    const prompts = scriptedPrompts(['approve']);
    const h = harness({
      tty: true,
      prompts,
      routes: {
        'GET /v1/break-glass': () => ({ requests: [] }),
        'GET /v1/approvals?limit=100': () => ({ approvals: [{ ...grantView, requesterGroups: [{ id: 'g1', displayName: 'sg-eng' }], recent: [] }] }),
        'POST /v1/requests/r7f3c0a1b2/review': () => ({ ...grantView, extensions: [extension(1, 'approved', 40), extension(2, 'approved', 0)] }),
      },
    });
    expect(await h.run('review')).toBe(0);
    const out = h.stdout();
    expect(out).toContain('[1/1] Extension of grant r7f3c0a1b2 — prod-db +30m');
    expect(out).toContain('Reason     migration still running');
    expect(out).toContain('Approvals  0 of 1 from sg-dba');
    expect(out).toMatch(/Grant {6}1h granted at \d\d:\d\d by bob@contoso\.com — first reason: INC-4211: stuck migration/);
    expect(out).toMatch(/History {4}\+30m approved by bob@contoso\.com at \d\d:\d\d — first overrun/);
    expect(out).toContain('Extended r7f3c0a1b2 by 30m — carol@contoso.com has prod-db until');
    expect(h.client.calls.slice(2).map((c) => [c.path, c.body])).toEqual([['/v1/requests/r7f3c0a1b2/review', { decision: 'approve' }]]);
  });

  it('goes through unreviewed break-glass grants first and records each verdict with its comment', async () => {
    const grantView = approvedView({ id: 'bg1', requester: carol, reviews: [], breakGlass: true, postReview: null, reason: 'INC-9: orders failing' });
    const h = harness({
      tty: true,
      prompts: scriptedPrompts(['not_acceptable', 'nothing was down']),
      routes: {
        'GET /v1/break-glass': () => ({ requests: [grantView] }),
        'GET /v1/approvals?limit=100': () => ({ approvals: [] }),
        'POST /v1/requests/bg1/post-review': () => ({
          ...grantView,
          postReview: {
            reviewer: { oid: 'oid-alice', upn: 'alice@contoso.com' },
            verdict: 'not_acceptable',
            comment: 'nothing was down',
            at: new Date(NOW).toISOString(),
          },
        }),
      },
    });
    expect(await h.run('review')).toBe(0);
    const out = h.stdout();
    expect(out).toContain('[1/1] Break-glass grant bg1 — prod-db for 1h');
    expect(out).toContain('Used by    carol@contoso.com');
    expect(out).toContain('Reason     INC-9: orders failing');
    expect(out).toContain('✔ Post-reviewed break-glass grant bg1: NOT acceptable (alice@contoso.com)');
    expect(out).toContain('Post-reviewed: 1 break-glass grant, 0 skipped.');
    expect(h.client.calls.slice(2).map((c) => [c.path, c.body])).toEqual([
      ['/v1/requests/bg1/post-review', { verdict: 'not_acceptable', comment: 'nothing was down' }],
    ]);
  });

  it('records a post-review without questions with ID --verdict --comment, and names the verdicts on a bad one', async () => {
    const h = harness({
      tty: false,
      routes: {
        'POST /v1/requests/bg1/post-review': () =>
          approvedView({ id: 'bg1', breakGlass: true, postReview: { reviewer: carol, verdict: 'acceptable', comment: 'ok', at: new Date(NOW).toISOString() } }),
      },
    });
    expect(await h.run('review', 'bg1', '--verdict', 'acceptable', '--comment', 'ok')).toBe(0);
    expect(h.stdout()).toContain('Post-reviewed break-glass grant bg1: acceptable (carol@contoso.com)');
    const bad = harness({ tty: false });
    expect(await bad.run('review', 'bg1', '--verdict', 'fine', '--comment', 'ok')).toBe(2);
    expect(bad.stderr()).toContain('--verdict "fine" is not a verdict — use --verdict acceptable or --verdict not-acceptable');
    const noComment = harness({ tty: false });
    expect(await noComment.run('review', 'bg1', '--verdict', 'acceptable')).toBe(2);
    expect(noComment.stderr()).toContain('a post-review needs --comment TEXT');
  });

  it('reports a request someone else decided first and goes on to the next', async () => {
    const prompts = scriptedPrompts(['approve', 'approve']);
    const h = harness({
      tty: true,
      prompts,
      routes: {
        'GET /v1/break-glass': () => ({ requests: [] }),
        'GET /v1/approvals?limit=100': () => ({ approvals: [makeApproval(), makeApproval({ id: 'r2' })] }),
        'POST /v1/requests/r7f3c0a1b2/review': () => {
          throw new AccessError('request_not_pending', 'request r7f3c0a1b2 was already approved by dave@contoso.com');
        },
        'POST /v1/requests/r2/review': () => makeView({ id: 'r2', approvalsRequired: 2, approvals: 1 }),
      },
    });
    expect(await h.run('review')).toBe(0);
    expect(h.stderr()).toContain('! request r7f3c0a1b2 was already approved by dave@contoso.com');
    expect(h.stdout()).toContain('Reviewed: 1 approved, 0 denied, 1 skipped.');
  });

  it('stops at once when the sign-in expired', async () => {
    const h = harness({
      tty: true,
      prompts: scriptedPrompts(['approve']),
      routes: {
        'GET /v1/break-glass': () => ({ requests: [] }),
        'GET /v1/approvals?limit=100': () => ({ approvals: [makeApproval(), makeApproval({ id: 'r2' })] }),
        'POST /v1/requests/r7f3c0a1b2/review': () => {
          throw new AccessError('not_signed_in', 'your sign-in has expired — run `access login`');
        },
      },
    });
    expect(await h.run('review')).toBe(4);
    expect(h.client.calls).toHaveLength(3);
  });
});
