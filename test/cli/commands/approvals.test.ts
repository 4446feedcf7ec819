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
