import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { terminalPrompts } from '../../../cli/prompts.js';
import { carol, harness, makeView, scriptedPrompts, type Call } from './fakes.js';

describe('access deny', () => {
  it('denies with --reason', async () => {
    const denied = makeView({ requester: carol, state: 'denied' });
    const h = harness({ routes: { 'POST /v1/requests/r7f3c0a1b2/review': () => denied } });
    expect(await h.run('deny', 'r7f3c0a1b2', '--reason', 'use the replica')).toBe(0);
    expect(h.client.calls[0]?.body).toEqual({ decision: 'deny', comment: 'use the replica' });
    expect(h.stdout()).toContain('✖ Denied r7f3c0a1b2');
  });

  it('refuses deny without --reason and without a terminal as a usage error (exit 2), sending nothing', async () => {
    // The real prompts module over streams that are not terminals.
    const prompts = terminalPrompts({ input: new PassThrough(), output: new PassThrough() });
    const h = harness({ prompts });
    expect(await h.run('deny', 'r7f3c0a1b2')).toBe(2);
    expect(h.stderr()).toContain('pass --reason TEXT');
    expect(h.log).toEqual([]);
  });

  it('asks for the deny reason on a terminal', async () => {
    const prompts = scriptedPrompts(['no change window']);
    const h = harness({ prompts, routes: { 'POST /v1/requests/r7f3c0a1b2/review': () => makeView({ state: 'denied' }) } });
    expect(await h.run('deny', 'r7f3c0a1b2')).toBe(0);
    expect(prompts.asked).toEqual(['Reason for denying r7f3c0a1b2:']);
    expect((h.client.calls[0] as Call).body).toEqual({ decision: 'deny', comment: 'no change window' });
  });
});
