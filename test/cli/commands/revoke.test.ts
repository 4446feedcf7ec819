import { describe, expect, it } from 'vitest';
import { approvedView, harness } from './fakes.js';

describe('access revoke', () => {
  it('revokes a grant with a reason', async () => {
    const h = harness({ routes: { 'POST /v1/requests/r7f3c0a1b2/revoke': () => approvedView({ state: 'revoked' }) } });
    expect(await h.run('revoke', 'r7f3c0a1b2', '--reason', 'done early')).toBe(0);
    expect(h.client.calls[0]?.body).toEqual({ reason: 'done early' });
    expect(h.stdout()).toContain('Revoked r7f3c0a1b2: alice@contoso.com no longer has prod-db');
  });
});
