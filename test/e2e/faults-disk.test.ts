// End to end with real processes: the broker's database on a full disk. The --data directory is a
// 2 MiB tmpfs (mounting one needs root; without it the file is skipped and says why), filled up
// with a file while the broker runs. New work is refused with a clear, coded error (never a 500
// with a stack, never a crash); everything acknowledged before is still there; once space is freed
// the same broker process works again, and the audit chain verifies.

import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestView } from '../../shared/wire.js';
import { startDevBrokerProcess, tempDir, type DevBrokerProcess } from '../helpers/processes.js';
import { accessToken, FAULT_TEST_PEOPLE, signInEach, type Person } from '../helpers/tunnel-broker.js';

const TMPFS_SIZE = '2m';

/** Why this machine cannot run the file, or null when it can: mounting a tmpfs needs root. */
async function cannotMount(dir: string): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0711`, 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (error) {
    return `mount -t tmpfs failed: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  }
}

let dir: string;
let dataDir: string;
let skipped: string | null = null;
let broker: DevBrokerProcess;
let alice: Person;
let bob: Person;
let dave: Person;
const filler = (): string => path.join(dataDir, 'filler');

beforeAll(async () => {
  dir = await tempDir('faults-disk');
  dataDir = path.join(dir, 'data');
  await mkdir(dataDir);
  skipped = await cannotMount(dataDir);
  if (skipped) {
    console.info(`faults-disk skipped: ${skipped}`);
    return;
  }
  const config = path.join(dir, 'config.yaml');
  await writeFile(
    config,
    [
      'resources:',
      '  gated:\n    kind: tcp\n    target: 127.0.0.1:9\n    requesters: [sg-eng]\n    approvers: [sg-dba]\n    maxDuration: 1h',
      '  auto:\n    kind: tcp\n    target: 127.0.0.1:9\n    requesters: [sg-eng]\n    approvers: [sg-dba]\n    autoApprove: [sg-eng]\n    maxDuration: 1h',
      FAULT_TEST_PEOPLE,
    ].join('\n'),
  );
  broker = await startDevBrokerProcess(['--data', dataDir, '--config', config]);
  [alice, bob, dave] = await signInEach(broker.url, ['alice', 'bob', 'dave']);
});

afterAll(async () => {
  await broker?.stop();
  if (!skipped && dataDir) {
    try {
      execFileSync('umount', [dataDir], { stdio: 'pipe' });
    } catch {
      // Already gone, or never mounted.
    }
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Writes zeros into the tmpfs until it is full (ENOSPC). */
async function fillDisk(): Promise<void> {
  const out = createWriteStream(filler());
  const block = Buffer.alloc(64 * 1024);
  await new Promise<void>((resolve) => {
    out.on('error', () => resolve());
    const more = (): void => {
      while (out.write(block)) {
        // keep writing until the stream asks us to wait
      }
      out.once('drain', more);
    };
    more();
  });
  out.destroy();
}

async function requestNoWait(resource: string): Promise<ReturnType<Person['run']>> {
  return alice.run(['request', resource, '--for', '30m', '--no-wait', '--json']);
}

async function stateOf(id: string): Promise<string | undefined> {
  return (await alice.json<RequestView[]>(['requests', '--all'])).find((r) => r.id === id)?.state;
}

describe('a full disk under the database', () => {
  it('refuses new work with a clear error, keeps what was acknowledged, and works again once space is freed', async (ctx) => {
    if (skipped) ctx.skip();
    const pending = JSON.parse((await requestNoWait('gated')).stdout) as RequestView;
    const granted = JSON.parse((await requestNoWait('auto')).stdout) as RequestView;
    expect([pending.state, granted.state]).toEqual(['pending', 'approved']);
    // Tokens first used after the disk is full would need a signin.seen write: use them once now.
    await Promise.all([accessToken(alice), accessToken(bob), accessToken(dave)]);

    await fillDisk();

    const refusedRequest = await requestNoWait('gated');
    expect(refusedRequest.code).toBe(1);
    expect(refusedRequest.stderr).toMatch(/disk|space|full/i);
    expect(refusedRequest.stderr).not.toMatch(/\n\s+at /);
    const refusedReview = await bob.run(['approve', pending.id]);
    expect(refusedReview.code).toBe(1);
    expect(refusedReview.stderr).toMatch(/disk|space|full/i);
    const api = await fetch(`${broker.url}/v1/requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await accessToken(alice)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'gated', duration: '30m' }),
    });
    expect(api.status).toBe(503);
    expect(await api.json()).toMatchObject({ code: 'store_full' });
    // Reading still works, and nothing acknowledged is gone.
    expect(await stateOf(pending.id)).toBe('pending');
    expect(await stateOf(granted.id)).toBe('approved');
    expect(broker.child.exitCode).toBeNull();

    await rm(filler());

    expect((await bob.run(['approve', pending.id])).code).toBe(0);
    expect(await stateOf(pending.id)).toBe('approved');
    const after = await requestNoWait('gated');
    expect(after.code, after.stderr).toBe(0);
    const verify = await dave.run(['audit', 'verify']);
    expect(verify.code, `${verify.stdout}\n${verify.stderr}`).toBe(0);
  });
});
