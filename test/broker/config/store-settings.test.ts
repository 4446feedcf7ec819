// The config's `store:` (the PostgreSQL database several brokers share), ACCESS_DATABASE_URL and
// `dev --store`, and which one a broker uses: a bad URL is refused saying what to write, and a
// password in it never appears in a message.

import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadStoreUrl, parseConfig } from '../../../broker/config/load.js';
import { describeStore, maintenanceStore, storeSetting } from '../../../broker/store/store-setting.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;
const RESOURCE = [
  'resources:',
  '  web:',
  '    kind: tcp',
  '    target: 127.0.0.1:8080',
  '    requesters: [sg-eng]',
  '    approvers: [sg-dba]',
  '    maxDuration: 4h',
];
const SECRET = 's3cret-pw';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error('expected a refusal');
}

const parseStore = (value: string) => parseConfig(file(...RESOURCE, `store: ${value}`), 'config.yaml', {});

describe('store: in the config', () => {
  it.each([
    'postgres://access@db.internal:5432/access',
    `postgresql://access:${SECRET}@db.internal/access?sslmode=require`,
    'postgres:///access?host=/var/run/postgresql',
  ])('takes %s', (url) => {
    expect(parseStore(url).store).toBe(url);
  });

  it('is absent unless written (SQLite in the data directory)', () => {
    expect(parseConfig(file(...RESOURCE), 'config.yaml', {}).store).toBeUndefined();
  });

  it.each([
    [`mysql://root:${SECRET}@db.internal/access`, 'config.yaml:8 store: is a mysql:// URL — the store is PostgreSQL: write postgres://USER@HOST:5432/DATABASE'],
    [`sqlite:///var/lib/access.db`, 'store: is a sqlite:// URL — the store is PostgreSQL'],
    [`db.internal:5432/${SECRET}`, 'store: is a db.internal:// URL'],
    [`not a url ${SECRET}`, 'store: is not a URL — write the PostgreSQL store as postgres://access@db.internal:5432/access'],
    [`postgres://access:${SECRET}@db.internal:5432`, 'store: names no database — add it after the host'],
    ['postgres:///access', 'store: names no host'],
    ['[postgres]', 'store: must be a PostgreSQL URL such as postgres://access@db.internal:5432/access'],
  ])('refuses %s, saying what to write and never quoting it', (value, expected) => {
    const message = refusal(() => parseStore(value));
    expect(message).toContain(expected);
    expect(message).not.toContain(SECRET);
  });

  it('is read alone for migrate and backup, whatever else the file needs', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'access-store-'));
    const config = path.join(dir, 'access.yaml');
    // A tenant whose Graph secret is not in the environment: serve would refuse it, migrate need not.
    await writeFile(config, file('tenant: { id: nope }', 'store: postgres://access@db.internal/access'));
    await expect(loadStoreUrl(config)).resolves.toBe('postgres://access@db.internal/access');
    await writeFile(config, file('store: ftp://db.internal/access'));
    await expect(loadStoreUrl(config)).rejects.toThrow(`${config}:1 store: is a ftp:// URL`);
  });
});

describe('storeSetting', () => {
  const configured = { url: 'postgres://access@config-db/access', source: '/etc/access/access.yaml' };

  it('is SQLite in the data directory when nothing names PostgreSQL', () => {
    expect(storeSetting({ env: {}, dataDir: '/var/lib/access' })).toEqual({ kind: 'sqlite', file: '/var/lib/access/access.db' });
    expect(storeSetting({ env: { ACCESS_DATABASE_URL: '' }, dataDir: '/var/lib/access' }).kind).toBe('sqlite');
  });

  it("takes the config's store, saying where it was set", () => {
    expect(storeSetting({ env: {}, configured, dataDir: '/d' })).toEqual({
      kind: 'postgres',
      url: configured.url,
      from: '`store` in /etc/access/access.yaml',
    });
  });

  it('lets ACCESS_DATABASE_URL win over the config, and dev --store over both', () => {
    const env = { ACCESS_DATABASE_URL: `postgres://access:${SECRET}@env-db/access` };
    expect(storeSetting({ env, configured, dataDir: '/d' })).toEqual({ kind: 'postgres', url: env.ACCESS_DATABASE_URL, from: 'ACCESS_DATABASE_URL' });
    expect(storeSetting({ flag: 'postgres://flag-db/access', env, configured, dataDir: '/d' })).toMatchObject({
      url: 'postgres://flag-db/access',
      from: '--store',
    });
  });

  it('refuses a bad ACCESS_DATABASE_URL or --store naming it, never quoting the URL', () => {
    const env = { ACCESS_DATABASE_URL: `mysql://root:${SECRET}@db/access` };
    const message = refusal(() => storeSetting({ env, dataDir: '/d' }));
    expect(message).toBe(
      'ACCESS_DATABASE_URL is a mysql:// URL — the store is PostgreSQL: write postgres://USER@HOST:5432/DATABASE (leave it out for SQLite in the data directory)',
    );
    expect(refusal(() => storeSetting({ flag: `postgres://u:${SECRET}@db`, env: {}, dataDir: '/d' }))).toMatch(/^--store names no database/);
  });

  it('describes the store without its password', () => {
    expect(describeStore(storeSetting({ env: { ACCESS_DATABASE_URL: `postgres://access:${SECRET}@db:5432/access` }, dataDir: '/d' }))).toBe(
      'postgres://access:***@db:5432/access',
    );
    expect(describeStore(storeSetting({ env: {}, dataDir: '/d' }))).toBe('/d/access.db');
  });

  it('finds the store of migrate and backup from --config, ACCESS_DATABASE_URL or --data', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'access-store-'));
    const config = path.join(dir, 'access.yaml');
    await writeFile(config, file('store: postgres://access@config-db/access'));
    await expect(maintenanceStore({ configFile: config, dataDir: dir, env: {} })).resolves.toMatchObject({ url: 'postgres://access@config-db/access' });
    await expect(maintenanceStore({ configFile: config, dataDir: dir, env: { ACCESS_DATABASE_URL: 'postgres://env-db/access' } })).resolves.toMatchObject({
      url: 'postgres://env-db/access',
    });
    await expect(maintenanceStore({ configFile: null, dataDir: dir, env: {} })).resolves.toEqual({ kind: 'sqlite', file: path.join(dir, 'access.db') });
  });
});
