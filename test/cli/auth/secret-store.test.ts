import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { chooseSecretStore, FileSecretStore, keychainAccountFor, KeychainSecretStore, PROBE_TIMEOUT_MS } from '../../../cli/auth/secret-store.js';
import { AccessError } from '../../../shared/errors.js';

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** Runs `action`, expecting an AccessError, and returns it for closer checks. */
async function accessErrorOf(action: () => Promise<unknown>): Promise<AccessError> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(AccessError);
    return error as AccessError;
  }
  throw new Error('expected an AccessError, but the call succeeded');
}

const never = (): Promise<boolean> => new Promise<boolean>(() => undefined);
const works = (): Promise<boolean> => Promise.resolve(true);

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'access-secret-'));
});
afterEach(async () => {
  vi.useRealTimers();
  await rm(root, { recursive: true, force: true });
});

describe('FileSecretStore', () => {
  it('reads a missing file as empty without creating anything', async () => {
    const home = join(root, 'home');
    const store = new FileSecretStore(join(home, 'tokens.json'));
    expect(await store.read()).toBeNull();
    await expect(stat(home)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('creates the dir with mode 0700 and the file with mode 0600', async () => {
    const home = join(root, 'deep', 'home');
    const store = new FileSecretStore(join(home, 'tokens.json'));
    await store.write('{"a":1}');

    expect(await modeOf(home)).toBe(0o700);
    expect(await modeOf(join(home, 'tokens.json'))).toBe(0o600);
    expect(await store.read()).toBe('{"a":1}');
  });

  it('describes itself with its path and mode', () => {
    const store = new FileSecretStore('/home/u/.config/access/tokens.json');
    expect(store.kind).toBe('file');
    expect(store.description).toBe('file /home/u/.config/access/tokens.json (mode 0600)');
  });

  it('tightens a pre-existing 0755 dir and 0644 file when writing', async () => {
    const home = join(root, 'home');
    const path = join(home, 'tokens.json');
    await mkdir(home);
    await chmod(home, 0o755);
    await writeFile(path, 'old');
    await chmod(path, 0o644);

    await new FileSecretStore(path).write('new');

    expect(await modeOf(home)).toBe(0o700);
    expect(await modeOf(path)).toBe(0o600);
    expect(await readFile(path, 'utf8')).toBe('new');
  });

  it('tightens a pre-existing 0755 dir and 0644 file as soon as it reads them', async () => {
    const home = join(root, 'home');
    const path = join(home, 'tokens.json');
    await mkdir(home);
    await chmod(home, 0o755);
    await writeFile(path, 'cached');
    await chmod(path, 0o644);

    expect(await new FileSecretStore(path).read()).toBe('cached');

    expect(await modeOf(home)).toBe(0o700);
    expect(await modeOf(path)).toBe(0o600);
  });

  it('leaves only the token file behind after repeated writes', async () => {
    const home = join(root, 'home');
    const store = new FileSecretStore(join(home, 'tokens.json'));
    const big = 'x'.repeat(512 * 1024);
    await Promise.all([store.write(`a${big}`), store.write(`b${big}`), store.write(`c${big}`)]);

    expect(await readdir(home)).toEqual(['tokens.json']);
    expect([`a${big}`, `b${big}`, `c${big}`]).toContain(await store.read());
  });

  it('refuses an unreadable token file with an error naming the file and `access logout`', async () => {
    const path = join(root, 'tokens.json');
    await mkdir(path); // a directory where the file should be: unreadable as a file even for root

    const error = await accessErrorOf(() => new FileSecretStore(path).read());
    expect(error.code).toBe('secret_store_failed');
    expect(error.message).toContain(path);
    expect(error.message).toContain('access logout');
  });

  it('reports a write it cannot do as secret_store_failed naming the file', async () => {
    const blocker = join(root, 'not-a-dir');
    await writeFile(blocker, '');
    const path = join(blocker, 'tokens.json');

    const error = await accessErrorOf(() => new FileSecretStore(path).write('x'));
    expect(error.code).toBe('secret_store_failed');
    expect(error.message).toContain(path);
  });

  it('clears the file, and clearing twice is fine', async () => {
    const store = new FileSecretStore(join(root, 'tokens.json'));
    await store.write('secret');
    await store.clear();
    await store.clear();
    expect(await store.read()).toBeNull();
  });

  it('keeps two homes independent', async () => {
    const a = await chooseSecretStore(join(root, 'a'), { ACCESS_TOKEN_STORE: 'file' });
    const b = await chooseSecretStore(join(root, 'b'), { ACCESS_TOKEN_STORE: 'file' });
    await a.store.write('alice');

    expect(await b.store.read()).toBeNull();
    await b.store.write('bob');
    expect(await a.store.read()).toBe('alice');
    await a.store.clear();
    expect(await b.store.read()).toBe('bob');
  });
});

describe('keychain account', () => {
  it('differs between two homes, so they are two users', () => {
    expect(keychainAccountFor('/home/u/a')).not.toBe(keychainAccountFor('/home/u/b'));
  });

  it('is the same for two spellings of one home', () => {
    expect(keychainAccountFor('/home/u/a/../a/')).toBe(keychainAccountFor('/home/u/a'));
  });

  it('names the entry by a hash, not the path itself', () => {
    expect(keychainAccountFor('/home/u/a')).toMatch(/^tokens:[0-9a-f]{16}$/);
  });
});

describe('chooseSecretStore', () => {
  it('uses the file store when ACCESS_TOKEN_STORE=file, without probing the keychain', async () => {
    const probe = vi.fn(works);
    const home = join(root, 'home');
    const { store, notice } = await chooseSecretStore(home, { ACCESS_TOKEN_STORE: 'file' }, probe);

    expect(store.kind).toBe('file');
    expect(store.description).toContain(join(home, 'tokens.json'));
    expect(notice).toContain('ACCESS_TOKEN_STORE=file');
    expect(probe).not.toHaveBeenCalled();
  });

  it('uses the keychain when ACCESS_TOKEN_STORE=keychain and the keychain works', async () => {
    const { store, notice } = await chooseSecretStore(root, { ACCESS_TOKEN_STORE: 'keychain' }, works);
    expect(store).toBeInstanceOf(KeychainSecretStore);
    expect((store as KeychainSecretStore).account).toBe(keychainAccountFor(root));
    expect(notice).toContain('ACCESS_TOKEN_STORE=keychain');
  });

  it('fails with the reason and the file alternative when ACCESS_TOKEN_STORE=keychain cannot be used', async () => {
    const probe = (): Promise<boolean> => Promise.reject(new Error("Couldn't access platform storage: AccessDenied"));
    const error = await accessErrorOf(() => chooseSecretStore(root, { ACCESS_TOKEN_STORE: 'keychain' }, probe));

    expect(error.code).toBe('secret_store_failed');
    expect(error.message).toContain('AccessDenied');
    expect(error.message).toContain('ACCESS_TOKEN_STORE=file');
  });

  it('refuses an unknown ACCESS_TOKEN_STORE value, naming it and the allowed ones', async () => {
    const error = await accessErrorOf(() => chooseSecretStore(root, { ACCESS_TOKEN_STORE: 'vault' }, works));

    expect(error.code).toBe('usage');
    expect(error.message).toContain('"vault"');
    expect(error.message).toContain('"keychain"');
    expect(error.message).toContain('"file"');
  });

  it('treats an empty ACCESS_TOKEN_STORE as unset', async () => {
    const { store } = await chooseSecretStore(root, { ACCESS_TOKEN_STORE: '' }, works);
    expect(store.kind).toBe('keychain');
  });

  it('uses the keychain when the probe succeeds', async () => {
    const { store, notice } = await chooseSecretStore(root, {}, works);
    expect(store.kind).toBe('keychain');
    expect(store.description).toMatch(/^OS keychain \(.+\)$/);
    expect(notice).toBe(`Token cache: ${store.description}`);
  });

  it('falls back to the file store with a one-line notice when the probe fails', async () => {
    const home = join(root, 'home');
    const { store, notice } = await chooseSecretStore(home, {}, () => Promise.resolve(false));

    expect(store.kind).toBe('file');
    expect(store.description).toBe(`file ${join(home, 'tokens.json')} (mode 0600)`);
    expect(notice).toMatch(/^Token cache: file .*tokens\.json \(mode 0600\) — no OS keychain available \(.+\)$/);
  });

  it('puts the keychain error in the notice, on one line', async () => {
    const probe = (): Promise<boolean> => Promise.reject(new Error('Platform failure: DBus error:\nUsing X11 for dbus-daemon autolaunch was disabled'));
    const { notice } = await chooseSecretStore(root, {}, probe);

    expect(notice).not.toContain('\n');
    expect(notice).toContain('(Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled)');
  });

  it('shows a token file under $HOME as ~/…', async () => {
    const home = join(root, '.config', 'access');
    const { notice } = await chooseSecretStore(home, { HOME: root, ACCESS_TOKEN_STORE: 'file' });
    expect(notice).toContain('file ~/.config/access/tokens.json (mode 0600)');
  });

  it('gives up on a probe that never answers and falls back to the file store', async () => {
    vi.useFakeTimers();
    const choice = chooseSecretStore(root, {}, never);
    await vi.advanceTimersByTimeAsync(PROBE_TIMEOUT_MS);
    const { store, notice } = await choice;

    expect(store.kind).toBe('file');
    expect(notice).toContain(`no answer within ${PROBE_TIMEOUT_MS} ms`);
  });

  it('reports a probe that never answers as unusable when the keychain is forced', async () => {
    vi.useFakeTimers();
    const choice = accessErrorOf(() => chooseSecretStore(root, { ACCESS_TOKEN_STORE: 'keychain' }, never));
    await vi.advanceTimersByTimeAsync(PROBE_TIMEOUT_MS);
    const error = await choice;

    expect(error.code).toBe('secret_store_failed');
    expect(error.message).toContain('no answer within');
  });
});
