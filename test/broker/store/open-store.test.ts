// openStore on both databases: SQLite in a data directory and PostgreSQL in a schema of its own on
// the machine's server. The schema is brought up to date, or checked (`serve --no-migrate`), or
// refused when newer than the code; a PostgreSQL server that cannot be used is refused at once with
// the URL (password hidden) and what to check; readiness asks the store and notices it going away.
// PostgreSQL runs on a worker thread from dist/: build first (`npx tsc -p tsconfig.json`).

import { rm } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { storeCheck } from '../../../broker/readiness.js';
import type { Database } from '../../../broker/store/database.js';
import { migrationsFor, recordedVersion } from '../../../broker/store/migrations.js';
import { openStore } from '../../../broker/store/open-store.js';
import { storeSetting, type StoreSetting } from '../../../broker/store/store-setting.js';
import { createPgSchema, pgSchemaUrl, type PgTestSchema } from '../../helpers/pg-schema.js';
import { tempDir } from '../../helpers/processes.js';

const open: Database[] = [];
const cleanups: Array<() => Promise<void>> = [];

function track(db: Database): Database {
  open.push(db);
  return db;
}

afterEach(async () => {
  for (const db of open.splice(0)) db.close();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A new, empty store of each kind. */
const kinds: Record<'sqlite' | 'postgres', () => Promise<StoreSetting>> = {
  sqlite: async () => {
    const dir = await tempDir('open-store');
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return storeSetting({ env: {}, dataDir: dir });
  },
  postgres: async () => {
    const schema = await createPgSchema('open_store');
    cleanups.push(() => schema.drop());
    return storeSetting({ env: { ACCESS_DATABASE_URL: schema.url() }, dataDir: '/nonexistent' });
  },
};

describe.each(['sqlite', 'postgres'] as const)('openStore on %s', (kind) => {
  const known = migrationsFor(kind).length;

  it('creates the newest schema on a new store, and opens it again unchanged', async () => {
    const setting = await kinds[kind]();
    const db = track(openStore(setting));
    expect(db.dialect).toBe(kind);
    expect(recordedVersion(db)).toBe(known);
    db.close();
    open.length = 0;
    expect(recordedVersion(track(openStore(setting)))).toBe(known);
  });

  it('without migrating, refuses a store that is behind, naming `access-broker migrate`', async () => {
    const setting = await kinds[kind]();
    expect(() => openStore(setting, { schema: 'check' })).toThrow(
      expect.objectContaining({
        code: 'store_incompatible',
        message: expect.stringContaining(`has schema version 0, but this broker needs version ${known}; run \`access-broker migrate\``),
      }),
    );
    track(openStore(setting)).close();
    open.length = 0;
    expect(recordedVersion(track(openStore(setting, { schema: 'check' })))).toBe(known);
  });

  it('refuses a schema newer than this broker knows, migrating or not', async () => {
    const setting = await kinds[kind]();
    const db = openStore(setting);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(known + 1, 'from the future', 0);
    db.close();
    for (const schema of ['migrate', 'check'] as const) {
      expect(() => openStore(setting, { schema })).toThrow(`has schema version ${known + 1}, but this broker knows versions up to ${known}`);
    }
  });

  it('leaves the schema alone when asked to', async () => {
    const setting = await kinds[kind]();
    expect(recordedVersion(track(openStore(setting, { schema: 'leave' })))).toBe(0);
  });
});

describe('openStore on a PostgreSQL server it cannot use', () => {
  const refusal = (url: string): unknown => {
    try {
      openStore(storeSetting({ env: { ACCESS_DATABASE_URL: url }, dataDir: '/nonexistent' }));
    } catch (error) {
      return error;
    }
    throw new Error('expected a refusal');
  };

  it('names the URL without its password and says to check the server when nothing listens', async () => {
    const port = await closedPort();
    expect(refusal(`postgres://postgres:hunter2@127.0.0.1:${port}/test`)).toMatchObject({
      code: 'store_unavailable',
      message: `the broker cannot reach its PostgreSQL database postgres://postgres:***@127.0.0.1:${port}/test: connect ECONNREFUSED 127.0.0.1:${port}; check that it is running and reachable, then try again`,
    });
  });

  it('says to create the database when it does not exist', () => {
    expect(refusal('postgres://postgres:hunter2@127.0.0.1:5432/access_no_such_db')).toMatchObject({
      code: 'store_unavailable',
      message:
        'the PostgreSQL store postgres://postgres:***@127.0.0.1:5432/access_no_such_db does not exist (PostgreSQL says: database "access_no_such_db" does not exist); create the database, or correct ACCESS_DATABASE_URL',
    });
  });

  it('says to check the user and password when the sign-in is refused', () => {
    const error = refusal('postgres://access_no_such_user:hunter2@127.0.0.1:5432/test') as Error;
    expect(error).toMatchObject({ code: 'store_unavailable' });
    expect(error.message).toBe(
      `the PostgreSQL store postgres://access_no_such_user:***@127.0.0.1:5432/test refused the broker's sign-in (PostgreSQL says: role "access_no_such_user" does not exist); check the user and password in ACCESS_DATABASE_URL, and pg_hba.conf on the server`,
    );
  });
});

describe('the store readiness check on PostgreSQL', () => {
  let schema: PgTestSchema;
  beforeAll(async () => {
    schema = await createPgSchema('readiness');
  });
  afterAll(async () => {
    await schema.drop();
  });

  it('answers while the server does, fails naming the store when it goes away, and recovers', async () => {
    const front = await tcpFront(5432);
    const db = track(openStore(storeSetting({ env: { ACCESS_DATABASE_URL: pgSchemaUrl(schema.name, front.port) }, dataDir: '/nonexistent' })));
    const check = storeCheck(db);
    await expect(check.check()).resolves.toBeUndefined();
    await front.close();
    await expect(check.check()).rejects.toThrow(`the broker cannot reach its PostgreSQL database postgres://postgres@127.0.0.1:${front.port}/test`);
    const again = await tcpFront(5432, front.port);
    try {
      await expect(check.check()).resolves.toBeUndefined();
    } finally {
      await again.close();
    }
  });
});

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const front = await tcpFront(5432);
  await front.close();
  return front.port;
}

/**
 * A TCP forwarder to 127.0.0.1:`target`, on `port` (default any); close() cuts every connection
 * through it. It runs on a worker thread: the store waits for PostgreSQL with the main thread blocked.
 */
async function tcpFront(target: number, port = 0): Promise<{ port: number; close(): Promise<void> }> {
  const worker = new Worker(FORWARDER, { eval: true, workerData: { target, port } });
  const listening = await new Promise<number>((resolve, reject) => {
    worker.once('message', (message: { port?: number; error?: string }) => (message.port ? resolve(message.port) : reject(new Error(message.error))));
    worker.once('error', reject);
  });
  return {
    port: listening,
    close: async () => {
      const closed = new Promise((resolve) => worker.once('message', resolve));
      worker.postMessage('close');
      await closed;
      await worker.terminate();
    },
  };
}

const FORWARDER = `
const net = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const sockets = new Set();
const server = net.createServer((client) => {
  const upstream = net.connect(workerData.target, '127.0.0.1');
  for (const socket of [client, upstream]) {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  }
  client.pipe(upstream).pipe(client);
});
server.once('error', (error) => parentPort.postMessage({ error: error.message }));
server.listen(workerData.port, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', () => {
  for (const socket of sockets) socket.destroy();
  server.close(() => parentPort.postMessage('closed'));
});
`;
