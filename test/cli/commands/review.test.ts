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
    expect(h.client.calls.slice(1).map((c) => [c.path, c.body])).toEqual([
      ['/v1/requests/r7f3c0a1b2/review', { decision: 'approve' }],
      ['/v1/requests/r2/review', { decision: 'deny', comment: 'not today' }],
    ]);
    expect(out).toContain('Reviewed: 1 approved, 1 denied, 1 skipped.');
  });

  it('reports a request someone else decided first and goes on to the next', async () => {
    const prompts = scriptedPrompts(['approve', 'approve']);
    const h = harness({
      tty: true,
      prompts,
      routes: {
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
        'GET /v1/approvals?limit=100': () => ({ approvals: [makeApproval(), makeApproval({ id: 'r2' })] }),
        'POST /v1/requests/r7f3c0a1b2/review': () => {
          throw new AccessError('not_signed_in', 'your sign-in has expired — run `access login`');
        },
      },
    });
    expect(await h.run('review')).toBe(4);
    expect(h.client.calls).toHaveLength(2);
  });
});
