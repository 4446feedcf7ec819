import { describe, expect, it } from 'vitest';
import { FORWARDED_SIGNALS, forwardedSignal, needsRelaunch, RELAY_NODE_FLAGS } from '../../shared/relay-launch.js';

describe('needsRelaunch', () => {
  it('starts a relay command again when the process lacks the relay flags', () => {
    expect(needsRelaunch(['connect', 'prod-db'], [], ['connect'])).toBe(true);
    expect(needsRelaunch(['serve', '--config', 'x.yaml'], ['--cpu-prof'], ['serve', 'dev'])).toBe(true);
  });

  it('runs in place when the flags are there already (a relaunched child, the test helpers, a unit file that passes them)', () => {
    expect(needsRelaunch(['connect', 'prod-db'], [...RELAY_NODE_FLAGS], ['connect'])).toBe(false);
    expect(needsRelaunch(['dev'], ['--cpu-prof', ...RELAY_NODE_FLAGS], ['serve', 'dev'])).toBe(false);
  });

  it('never starts again for a command that relays nothing, for help, or for no command', () => {
    expect(needsRelaunch(['requests'], [], ['connect'])).toBe(false);
    expect(needsRelaunch(['--help'], [], ['connect'])).toBe(false);
    expect(needsRelaunch([], [], ['connect'])).toBe(false);
    expect(needsRelaunch(['migrate'], [], ['serve', 'dev'])).toBe(false);
    // Only the command word counts: a resource named like a command is not one.
    expect(needsRelaunch(['request', 'connect'], [], ['connect'])).toBe(false);
  });
});

describe('forwardedSignal', () => {
  it('reads the signals a launcher forwards', () => {
    for (const signal of FORWARDED_SIGNALS) expect(forwardedSignal({ signal })).toBe(signal);
  });

  it('ignores anything else on the channel', () => {
    for (const message of [null, 'SIGINT', 42, {}, { signal: 'SIGKILL' }, { signal: 'SIGUSR1' }, { signal: ['SIGINT'] }]) {
      expect(forwardedSignal(message)).toBeNull();
    }
  });
});
