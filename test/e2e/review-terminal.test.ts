// `access review` driven in a real terminal (tmux), the way an approver uses it: approve the first
// request, deny the second with a typed reason, then check the requester sees both decisions.

import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestView } from '../../shared/wire.js';
import { ACCESS_BIN, login, runCli, startDevBrokerProcess, tempDir, waitForMatch, type DevBrokerProcess } from '../helpers/processes.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
if (!hasTmux) console.log('skipping the terminal review test: tmux is not installed (apt-get install tmux)');

const SESSION = `access-review-${process.pid}`;
let broker: DevBrokerProcess;

function screen(): string {
  return execFileSync('tmux', ['capture-pane', '-p', '-t', SESSION], { encoding: 'utf8' });
}

function keys(...k: string[]): void {
  execFileSync('tmux', ['send-keys', '-t', SESSION, ...k]);
}

beforeAll(async () => {
  if (hasTmux) broker = await startDevBrokerProcess();
});

afterAll(async () => {
  spawnSync('tmux', ['kill-session', '-t', SESSION]);
  await broker?.stop();
});

describe.skipIf(!hasTmux)('access review in a terminal', () => {
  it('approves one request and denies another with a typed reason', async () => {
    const alice = await tempDir('review-alice');
    const bob = await tempDir('review-bob');
    expect((await login(broker.url, alice, 'alice@contoso.dev')).code).toBe(0);
    expect((await login(broker.url, bob, 'bob@contoso.dev')).code).toBe(0);
    const first = await runCli(['request', 'demo-db', '--for', '20m', '--reason', 'INC-7: slow query', '--no-wait', '--json'], alice);
    const second = await runCli(['request', 'demo-echo', '--reason', 'poke the service', '--no-wait', '--json'], alice);
    expect(first.code, first.stderr).toBe(0);
    const firstId = (JSON.parse(first.stdout) as RequestView).id;
    const secondId = (JSON.parse(second.stdout) as RequestView).id;

    execFileSync('tmux', [
      'new-session',
      '-d',
      '-s',
      SESSION,
      '-x',
      '140',
      '-y',
      '50',
      `env ACCESS_HOME=${bob} NO_COLOR=1 ${process.execPath} ${ACCESS_BIN} review; echo EXIT=$?; sleep 60`,
    ]);
    await waitForMatch(screen, new RegExp(`Decision on ${firstId}`));
    expect(screen()).toContain('INC-7: slow query');
    expect(screen()).toContain('alice@contoso.dev');
    keys('Enter'); // Approve is the first choice
    await waitForMatch(screen, new RegExp(`Decision on ${secondId}`));
    keys('Down');
    keys('Enter'); // Deny
    await waitForMatch(screen, /Reason for denying/);
    keys('no ticket, ask again later', 'Enter');
    await waitForMatch(screen, /Reviewed: 1 approved, 1 denied, 0 skipped\.\s+EXIT=0/);

    const mine = await runCli(['requests', '--all', '--json'], alice);
    const states = Object.fromEntries((JSON.parse(mine.stdout) as RequestView[]).map((r) => [r.id, r]));
    expect(states[firstId]?.state).toBe('approved');
    expect(states[secondId]).toMatchObject({ state: 'denied', closeReason: 'no ticket, ask again later' });
  });

  it('refuses to run without a terminal and names the commands to use instead (exit 2)', async () => {
    const bob = await tempDir('review-notty');
    await login(broker.url, bob, 'bob@contoso.dev');
    const result = await runCli(['review'], bob);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('access approve ID');
  });
});
