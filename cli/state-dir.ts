// The CLI's state directory and the two file-system primitives everything kept in it relies on:
// a private directory and atomic writes. Tokens and config live here, so nothing in it may be
// readable by other users, and a crash mid-write must never leave a half-written file behind.

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';

/** Owner read/write/search only: the state dir holds tokens. */
export const PRIVATE_DIR_MODE = 0o700;
/** Owner read/write only: the default for every file the CLI writes into its state dir. */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * The CLI's state dir: `$ACCESS_HOME`, else `$XDG_CONFIG_HOME/access`, else `~/.config/access`.
 * Always absolute, because the path also names the user's keychain entry (two ACCESS_HOMEs on one
 * machine are two independent users) and must not change with the working directory.
 */
export function accessHome(env: NodeJS.ProcessEnv): string {
  const explicit = env['ACCESS_HOME'];
  if (explicit) return resolve(explicit);

  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdg = env['XDG_CONFIG_HOME'];
  if (xdg && isAbsolute(xdg)) return join(xdg, 'access');

  const home = env['HOME'] || homedir();
  return join(home, '.config', 'access');
}

/**
 * `mkdir -p` with mode 0700, and chmod 0700 when the directory already existed: a dir created
 * earlier by hand (or by an older version) with 0755 would expose the files inside it.
 * Throws the underlying Node error; callers wrap it in an AccessError that fits their situation.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  // mkdir's mode is filtered by the umask and ignored for an existing dir; chmod sets it exactly.
  await chmod(dir, PRIVATE_DIR_MODE);
}

/**
 * Replaces `path` with `data` so that readers see either the old file or the new one, never a
 * mix: write a temp file in the same directory (rename is only atomic within one file system),
 * fsync it, rename it over the target, then fsync the directory so the rename survives a crash.
 * The new file gets exactly `mode` (default 0600) whatever the umask or the old file's mode.
 * The directory must exist. Throws the underlying Node error after removing the temp file.
 */
export async function writeFileAtomic(path: string, data: string, mode: number = PRIVATE_FILE_MODE): Promise<void> {
  const dir = dirname(path);
  // Unique per process and call, so concurrent writers never share a temp file.
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

  try {
    // 'wx': never follow or reuse something already at the temp path.
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.chmod(mode); // the umask may have removed bits the caller asked for
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined); // best effort; the original error is what matters
    throw error;
  }

  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  // Directories cannot be opened for fsync on Windows (EPERM/EISDIR); the rename is already
  // done, so losing only the durability guarantee there is acceptable.
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    return;
  }
}
