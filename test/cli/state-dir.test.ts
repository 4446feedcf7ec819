import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { accessHome, ensurePrivateDir, writeFileAtomic } from '../../cli/state-dir.js';

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe('accessHome', () => {
  const cases: Array<{ name: string; env: NodeJS.ProcessEnv; expected: string }> = [
    { name: 'uses $ACCESS_HOME first', env: { ACCESS_HOME: '/srv/a', XDG_CONFIG_HOME: '/x', HOME: '/h' }, expected: '/srv/a' },
    { name: 'resolves a relative $ACCESS_HOME against the working directory', env: { ACCESS_HOME: 'rel/a' }, expected: resolve('rel/a') },
    { name: 'ignores an empty $ACCESS_HOME', env: { ACCESS_HOME: '', XDG_CONFIG_HOME: '/x' }, expected: '/x/access' },
    { name: 'uses $XDG_CONFIG_HOME/access next', env: { XDG_CONFIG_HOME: '/x', HOME: '/h' }, expected: '/x/access' },
    { name: 'ignores a relative $XDG_CONFIG_HOME, as the XDG spec says', env: { XDG_CONFIG_HOME: 'x', HOME: '/h' }, expected: '/h/.config/access' },
    { name: 'falls back to ~/.config/access', env: { HOME: '/h' }, expected: '/h/.config/access' },
    { name: 'asks the OS for the home dir when $HOME is unset', env: {}, expected: join(homedir(), '.config', 'access') },
  ];
  for (const { name, env, expected } of cases) {
    it(name, () => {
      expect(accessHome(env)).toBe(expected);
    });
  }
});

describe('state dir files', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'access-state-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates missing directories with mode 0700', async () => {
    const dir = join(root, 'a', 'b');
    await ensurePrivateDir(dir);
    expect(await modeOf(dir)).toBe(0o700);
  });

  it('tightens an existing 0755 directory to 0700', async () => {
    const dir = join(root, 'loose');
    await mkdir(dir);
    await chmod(dir, 0o755);
    await ensurePrivateDir(dir);
    expect(await modeOf(dir)).toBe(0o700);
  });

  it('writes a new file with mode 0600 by default', async () => {
    const file = join(root, 'f.json');
    await writeFileAtomic(file, 'hello');
    expect(await readFile(file, 'utf8')).toBe('hello');
    expect(await modeOf(file)).toBe(0o600);
  });

  it('gives the file exactly the mode asked for', async () => {
    const file = join(root, 'f.txt');
    await writeFileAtomic(file, 'x', 0o640);
    expect(await modeOf(file)).toBe(0o640);
  });

  it('replaces a pre-existing 0644 file with a 0600 one', async () => {
    const file = join(root, 'f.json');
    await writeFile(file, 'old');
    await chmod(file, 0o644);
    await writeFileAtomic(file, 'new');
    expect(await readFile(file, 'utf8')).toBe('new');
    expect(await modeOf(file)).toBe(0o600);
  });

  it('leaves one whole file and no temp files after many concurrent writes', async () => {
    const file = join(root, 'tokens.json');
    // Large, distinct payloads: a torn write would mix two of them.
    const payloads = Array.from({ length: 16 }, (_, i) => String(i % 10).repeat(256 * 1024));
    await Promise.all(payloads.map((payload) => writeFileAtomic(file, payload)));

    expect(payloads).toContain(await readFile(file, 'utf8'));
    expect(await readdir(root)).toEqual(['tokens.json']);
  });

  it('keeps the old file and removes its temp file when the rename fails', async () => {
    // A directory in the way makes rename fail after the temp file was fully written.
    const target = join(root, 'blocked');
    await mkdir(target);
    await writeFile(join(target, 'inside'), 'keep');

    await expect(writeFileAtomic(target, 'data')).rejects.toThrow();

    expect(await readdir(root)).toEqual(['blocked']);
    expect(await readFile(join(target, 'inside'), 'utf8')).toBe('keep');
  });
});
