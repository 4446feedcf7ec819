// Reusing a just-fetched access token: only for TOKEN_REUSE_MS and only while it is far from its
// expiry, concurrent callers sharing one fetch, a failed fetch never kept.

import { describe, expect, it } from 'vitest';
import { TOKEN_RENEWAL_MARGIN_MS, TOKEN_REUSE_MS, TokenReuse, type FetchedToken } from '../../shared/token-reuse.js';

const T0 = Date.parse('2026-06-01T12:00:00Z');
const HOUR = 3_600_000;

function setup(expiresIn = HOUR) {
  const clock = { now: T0 };
  let fetches = 0;
  let failing = false;
  const reuse = new TokenReuse(
    async (): Promise<FetchedToken> => {
      fetches++;
      if (failing) throw new Error('tenant unreachable');
      return { token: `token-${fetches}`, expiresAt: clock.now + expiresIn };
    },
    () => clock.now,
  );
  return {
    reuse,
    clock,
    fetches: () => fetches,
    fail: (on: boolean) => {
      failing = on;
    },
  };
}

describe('TokenReuse', () => {
  it('hands out the token it fetched until TOKEN_REUSE_MS has passed, then fetches again', async () => {
    const { reuse, clock, fetches } = setup();
    expect(await reuse.get()).toBe('token-1');
    clock.now += TOKEN_REUSE_MS - 1;
    expect(await reuse.get()).toBe('token-1');
    expect(fetches()).toBe(1);
    clock.now += 1;
    expect(await reuse.get()).toBe('token-2');
  });

  it('never reuses a token MSAL would renew (within its renewal margin of the expiry)', async () => {
    const { reuse, fetches } = setup(TOKEN_RENEWAL_MARGIN_MS);
    await reuse.get();
    await reuse.get();
    expect(fetches()).toBe(2);
  });

  it('lets callers that ask at the same moment share one fetch', async () => {
    const { reuse, fetches } = setup();
    expect(await Promise.all([reuse.get(), reuse.get(), reuse.get()])).toEqual(['token-1', 'token-1', 'token-1']);
    expect(fetches()).toBe(1);
  });

  it('keeps no failure: the next caller fetches again', async () => {
    const { reuse, fetches, fail } = setup();
    fail(true);
    await expect(reuse.get()).rejects.toThrow('tenant unreachable');
    fail(false);
    expect(await reuse.get()).toBe('token-2');
    expect(fetches()).toBe(2);
  });

  it('forgets the held token when cleared (a sign-out in this process)', async () => {
    const { reuse, fetches } = setup();
    await reuse.get();
    reuse.clear();
    await reuse.get();
    expect(fetches()).toBe(2);
  });

  it('keeps no token from a fetch that was running when cleared (a sign-in replacing it)', async () => {
    const { reuse, fetches } = setup();
    const before = reuse.get();
    reuse.clear();
    expect(await before).toBe('token-1');
    // The fetch that began before the sign-in neither fills the cache nor serves later callers.
    expect(await reuse.get()).toBe('token-2');
    expect(await reuse.get()).toBe('token-2');
    expect(fetches()).toBe(2);
  });
});
