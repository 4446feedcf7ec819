import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { CONNECTION_PRAGMAS, openDatabase } from '../../broker/store/database.js';
import { SqlRequestStore } from '../../broker/store/request-store.js';
import { REPO, tempDir, waitForMatch } from '../helpers/processes.js';
import { HOUR, T0, approvedRequest, pendingRequest } from '../broker/store/sample-requests.js';

const FIXTURE = path.join(REPO, 'test/fixtures/sqlite-commit.mjs');

let dir: string;

beforeEach(async () => {
  dir = await tempDir('durability');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('keeps a committed transition when the process is killed with SIGKILL right after the commit', async () => {
  const file = path.join(dir, 'broker.db');
  const pending = pendingRequest();
  const created = openDatabase(file);
  new SqlRequestStore(created).insert(pending);
  created.close();

  const approvedAt = T0 + HOUR / 2;
  const child = spawn(process.execPath, [FIXTURE, file, JSON.stringify(CONNECTION_PRAGMAS), pending.id, String(approvedAt)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));

  await waitForMatch(() => output, /committed/);
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');

  // The commit lives only in the write-ahead log: the killed process never checkpointed or closed,
  // so reopening has to recover it from there.
  expect(statSync(`${file}-wal`).size).toBeGreaterThan(0);

  const reopened = openDatabase(file);
  try {
    expect(new SqlRequestStore(reopened).get(pending.id)).toEqual(
      approvedRequest(pending, approvedAt, [{ reviewer: { oid: 'oid-bob', upn: 'bob@contoso.test' }, decision: 'approve', comment: 'ok', at: approvedAt }]),
    );
  } finally {
    reopened.close();
  }
});
