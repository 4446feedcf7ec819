import { describe, expect, it } from 'vitest';
import { approvedView, carol, harness, makeView } from './fakes.js';

describe('access approve', () => {
  it('approves with a comment and says what is still needed', async () => {
    const after = makeView({ requester: carol, approvalsRequired: 2, approvals: 1 });
    const h = harness({ routes: { 'POST /v1/requests/r7f3c0a1b2/review': () => after } });
    expect(await h.run('approve', 'r7f3c0a1b2', '--comment', 'ok for the incident')).toBe(0);
    expect(h.client.calls[0]?.body).toEqual({ decision: 'approve', comment: 'ok for the incident' });
    expect(h.stdout()).toBe('✔ Approved r7f3c0a1b2 (1 of 2) — still needs 1 approval from sg-dba\n');
  });

  it('says until when the approval grants access', async () => {
    const h = harness({ routes: { 'POST /v1/requests/r7f3c0a1b2/review': () => approvedView({ requester: carol }) } });
    await h.run('approve', 'r7f3c0a1b2');
    expect(h.stdout()).toMatch(/^✔ Approved r7f3c0a1b2 — carol@contoso\.com has prod-db until (?:tomorrow )?\d\d:\d\d \(59m\)\n$/);
  });
});
