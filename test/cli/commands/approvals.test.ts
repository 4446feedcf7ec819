import { describe, expect, it } from 'vitest';
import { harness, makeApproval } from './fakes.js';

describe('access approvals', () => {
  it('lists what waits for me as a table', async () => {
    const h = harness({ routes: { 'GET /v1/approvals?limit=100': () => ({ approvals: [makeApproval()] }) } });
    expect(await h.run('approvals')).toBe(0);
    const [header, row] = h.stdout().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['ID', 'REQUESTER', 'RESOURCE', 'FOR', 'REASON', 'TICKET', 'AGE', 'APPROVALS']);
    expect(row?.split(/\s{2,}/)).toEqual(['r7f3c0a1b2', 'carol@contoso.com', 'prod-db', '1h', 'INC-4211: stuck migration', 'INC-4211', '2m ago', '0/2']);
  });

  it('shows a pending extension of a live grant as an extension, with its own reason, age and approvals', async () => {
    const extension = {
      seq: 1,
      durationMs: 30 * 60_000,
      reason: 'migration still running',
      requestedAt: new Date(Date.parse(makeApproval().createdAt) + 60_000).toISOString(),
      state: 'pending' as const,
      approvalsRequired: 1,
      approvals: 0,
      reviews: [],
      decidedAt: null,
      previousExpiresAt: makeApproval().createdAt,
    };
    const h = harness({ routes: { 'GET /v1/approvals?limit=100': () => ({ approvals: [makeApproval({ state: 'approved', extensions: [extension] })] }) } });
    expect(await h.run('approvals')).toBe(0);
    const row = h.stdout().split('\n')[1];
    expect(row?.split(/\s{2,}/)).toEqual([
      'r7f3c0a1b2',
      'carol@contoso.com',
      'prod-db',
      '+30m (extension)',
      'migration still running',
      'INC-4211',
      '1m ago',
      '0/1',
    ]);
  });

  it('prints the approvals as JSON with --json', async () => {
    const h = harness({ routes: { 'GET /v1/approvals?limit=100': () => ({ approvals: [makeApproval()] }) } });
    await h.run('approvals', '--json');
    expect(JSON.parse(h.stdout())).toEqual([makeApproval()]);
  });

  it('says so when nothing waits', async () => {
    const h = harness({ routes: { 'GET /v1/approvals?limit=100': () => ({ approvals: [] }) } });
    await h.run('approvals');
    expect(h.stdout()).toBe('Nothing waits for your approval.\n');
  });
});
