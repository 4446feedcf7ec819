// App-only tokens are reused per scope: the broker asks for its Graph token at every tunnel's
// membership check, and each ask used to be a full MSAL client-credential call.

import { describe, expect, it } from 'vitest';
import { reusedPerScope } from '../../shared/app-token.js';
import { TOKEN_REUSE_MS } from '../../shared/token-reuse.js';

const T0 = Date.parse('2026-06-01T12:00:00Z');
const HOUR = 3_600_000;

describe('reusedPerScope', () => {
  it('fetches once per scope while the token is fresh, and again once TOKEN_REUSE_MS has passed', async () => {
    const clock = { now: T0 };
    const fetched: string[] = [];
    const source = reusedPerScope(
      async (scope) => {
        fetched.push(scope);
        return { token: `${scope}#${fetched.length}`, expiresAt: clock.now + HOUR };
      },
      () => clock.now,
    );
    expect(await Promise.all([source('graph/.default'), source('graph/.default')])).toEqual(['graph/.default#1', 'graph/.default#1']);
    expect(await source('graph/.default')).toBe('graph/.default#1');
    expect(await source('other/.default')).toBe('other/.default#2');
    clock.now += TOKEN_REUSE_MS;
    expect(await source('graph/.default')).toBe('graph/.default#3');
    expect(fetched).toEqual(['graph/.default', 'other/.default', 'graph/.default']);
  });

  it('keeps no failure: the next call asks the tenant again', async () => {
    let calls = 0;
    const source = reusedPerScope(async () => {
      calls++;
      if (calls === 1) throw new Error('tenant unreachable');
      return { token: 'fine', expiresAt: Date.now() + HOUR };
    });
    await expect(source('graph/.default')).rejects.toThrow('tenant unreachable');
    expect(await source('graph/.default')).toBe('fine');
    expect(calls).toBe(2);
  });
});
