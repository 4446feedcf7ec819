// GrantDeadlines: the tunnels of a grant end at its absolute expiresAt, and an approved extension
// moves that end for the tunnels already open (they keep running).

import { afterEach, describe, expect, it, vi } from 'vitest';
import { GrantDeadlines } from '../../../broker/tunnel/grant-deadlines.js';

afterEach(() => {
  vi.useRealTimers();
});

function deadlines(): { due: Array<{ grant: string; expiresAt: number; members: readonly string[] }>; watch: GrantDeadlines<string> } {
  const due: Array<{ grant: string; expiresAt: number; members: readonly string[] }> = [];
  const watch = new GrantDeadlines<string>(Date.now, (grant, expiresAt, members) => due.push({ grant, expiresAt, members }));
  return { due, watch };
}

describe('GrantDeadlines', () => {
  it("ends a grant's tunnels at its expiresAt", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { due, watch } = deadlines();
    watch.add('g1', 1_060_000, 'tunnel-a');
    vi.advanceTimersByTime(59_999);
    expect(due).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(due).toEqual([{ grant: 'g1', expiresAt: 1_060_000, members: ['tunnel-a'] }]);
  });

  it('moves the end of open tunnels when the grant is extended: nothing happens at the old end', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { due, watch } = deadlines();
    watch.add('g1', 1_060_000, 'tunnel-a');
    watch.add('g1', 1_060_000, 'tunnel-b');
    vi.advanceTimersByTime(30_000);
    watch.move('g1', 1_960_000);
    vi.advanceTimersByTime(60_000);
    expect(due).toEqual([]);
    vi.advanceTimersByTime(870_000);
    expect(due).toEqual([{ grant: 'g1', expiresAt: 1_960_000, members: ['tunnel-a', 'tunnel-b'] }]);
    watch.clear();
  });

  it('ignores a move of a grant without tunnels here', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { due, watch } = deadlines();
    watch.move('g-none', 2_000_000);
    vi.advanceTimersByTime(2_000_000);
    expect(due).toEqual([]);
    expect(watch.members('g-none')).toEqual([]);
  });
});
