// `/readyz`'s network checks (signing keys, Graph) answer at most once per READINESS_CACHE_MS, so
// a probe every second is not a Graph call every second, and an outage still shows within seconds.

import { describe, expect, it } from 'vitest';
import { cachedCheck, checkReadiness, READINESS_CACHE_MS, type ReadinessCheck } from '../../broker/readiness.js';

/** A check that counts its calls and fails while `failing` is set. */
function counted(): { check: ReadinessCheck; calls: () => number; fail: (reason: string | null) => void } {
  let calls = 0;
  let failing: string | null = null;
  return {
    check: {
      name: 'graph',
      check: async () => {
        calls++;
        if (failing) throw new Error(failing);
      },
    },
    calls: () => calls,
    fail: (reason) => {
      failing = reason;
    },
  };
}

describe('cachedCheck', () => {
  it('asks the part once for every probe within the cache time, and again after it', async () => {
    const clock = { now: 1_000_000 };
    const part = counted();
    const check = cachedCheck(part.check, READINESS_CACHE_MS, () => clock.now);
    for (let probe = 0; probe < 5; probe++) {
      expect(await checkReadiness([check])).toEqual({ ready: true, checks: { graph: 'ok' } });
      clock.now += 1_000 - 1;
    }
    expect(part.calls()).toBe(1);
    clock.now += READINESS_CACHE_MS;
    await checkReadiness([check]);
    expect(part.calls()).toBe(2);
  });

  it('reports a failure to every probe until the cache time passes, then sees the recovery', async () => {
    const clock = { now: 0 };
    const part = counted();
    const check = cachedCheck(part.check, READINESS_CACHE_MS, () => clock.now);
    part.fail('cannot get a token for Graph');
    expect(await checkReadiness([check])).toEqual({ ready: false, checks: { graph: 'cannot get a token for Graph' } });
    part.fail(null);
    clock.now += READINESS_CACHE_MS - 1;
    expect((await checkReadiness([check])).ready).toBe(false);
    clock.now += 1;
    expect((await checkReadiness([check])).ready).toBe(true);
    expect(part.calls()).toBe(2);
  });

  it('shares one call between probes that arrive while it runs', async () => {
    let release: () => void = () => undefined;
    let calls = 0;
    const check = cachedCheck({
      name: 'graph',
      check: () => {
        calls++;
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    });
    const probes = Promise.all([checkReadiness([check]), checkReadiness([check]), checkReadiness([check])]);
    release();
    expect((await probes).map((result) => result.ready)).toEqual([true, true, true]);
    expect(calls).toBe(1);
  });
});
