import { describe, expect, it } from 'vitest';
import { harness, makeView } from './fakes.js';

describe('access cancel', () => {
  it('cancels a pending request', async () => {
    const h = harness({ routes: { 'POST /v1/requests/r7f3c0a1b2/cancel': () => makeView({ state: 'cancelled' }) } });
    expect(await h.run('cancel', 'r7f3c0a1b2')).toBe(0);
    expect(h.client.calls[0]?.body).toEqual({});
    expect(h.stdout()).toBe('Cancelled request r7f3c0a1b2 for prod-db.\n');
  });

  it('escapes the id in the path', async () => {
    const h = harness({ routes: { 'POST /v1/requests/a%2Fb/cancel': () => makeView({ id: 'a/b', state: 'cancelled' }) } });
    expect(await h.run('cancel', 'a/b')).toBe(0);
  });
});
