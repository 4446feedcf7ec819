// Where the CLI keeps its MSAL token cache: the OS keychain when one works on this machine, else
// a private file in the state dir (DESIGN.md, "Identity"). The store holds one opaque string; what
// is inside (MSAL's cache JSON) is the token cache plugin's business.

import { createHash, randomBytes } from 'node:crypto';
import { chmod, open, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';

import { AccessError } from '../../shared/errors.js';
import { ensurePrivateDir, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, writeFileAtomic } from '../state-dir.js';
import { keychainCall, type KeychainRequest } from './keychain-process.js';

export interface SecretStore {
  readonly kind: 'keychain' | 'file';
  /** For people: e.g. "OS keychain (Secret Service)" or "file /home/u/.config/access/tokens.json (mode 0600)". */
  readonly description: string;
  /** The stored value, or null when nothing is stored. */
  read(): Promise<string | null>;
  write(value: string): Promise<void>;
  /** Removes the stored value; clearing an empty store is not an error. */
  clear(): Promise<void>;
}

/** Keychain service name shared by every entry the CLI creates. */
export const KEYCHAIN_SERVICE = 'access-cli';
/** File name of the token cache inside the state dir when no keychain is used. */
export const TOKEN_FILE_NAME = 'tokens.json';
/** Environment variable that forces one store instead of probing. */
export const TOKEN_STORE_ENV = 'ACCESS_TOKEN_STORE';

/**
 * How long the keychain probe may take before the CLI gives up on the keychain. A healthy Secret
 * Service answers in milliseconds; a hung D-Bus (or an unlock prompt nobody answers on a headless
 * session) must not stall every CLI invocation.
 */
export const PROBE_TIMEOUT_MS = 3_000;
/**
 * How long one keychain read/write/delete may take once the keychain is in use. Longer than the
 * probe because a desktop keychain may be waiting for the user to type an unlock password.
 */
const KEYCHAIN_OPERATION_TIMEOUT_MS = 30_000;
/** Keeps a keychain failure reason short enough for a one-line notice. */
const MAX_REASON_CHARS = 160;
/** Hex chars of sha256(home) in the keychain account name: 64 bits tell homes on one machine apart. */
const ACCOUNT_HASH_CHARS = 16;

// ---------------------------------------------------------------------------------------------
// File store

/**
 * A 0600 file in a 0700 directory, replaced atomically on every write. The file's directory is
 * treated as private (the state dir): it is created 0700 and tightened to 0700 if looser.
 */
export class FileSecretStore implements SecretStore {
  readonly kind = 'file';
  readonly description: string;

  constructor(readonly path: string) {
    this.description = describeFile(path);
  }

  async read(): Promise<string | null> {
    try {
      const handle = await open(this.path, 'r');
      try {
        // A file left 0644 by hand or by an older version would expose the tokens: tighten it
        // (and its dir) as soon as we see it, not only at the next write.
        await tightenMode(dirname(this.path), PRIVATE_DIR_MODE);
        const { mode } = await handle.stat();
        if ((mode & 0o777) !== PRIVATE_FILE_MODE) await handle.chmod(PRIVATE_FILE_MODE);
        return await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (hasErrorCode(error, 'ENOENT')) return null; // never signed in: simply empty
      throw new AccessError(
        'secret_store_failed',
        `Cannot read the token cache file ${this.path}: ${oneLineReason(error)}. ` + 'Fix its permissions, or run `access logout` to clear it.',
        { cause: error },
      );
    }
  }

  async write(value: string): Promise<void> {
    try {
      await ensurePrivateDir(dirname(this.path));
      await writeFileAtomic(this.path, value, PRIVATE_FILE_MODE);
    } catch (error) {
      throw new AccessError(
        'secret_store_failed',
        `Cannot write the token cache file ${this.path}: ${oneLineReason(error)}. ` +
          `Make ${dirname(this.path)} writable by you, or point ACCESS_HOME at a directory that is.`,
        { cause: error },
      );
    }
  }

  async clear(): Promise<void> {
    try {
      await unlink(this.path);
    } catch (error) {
      if (hasErrorCode(error, 'ENOENT')) return;
      throw new AccessError('secret_store_failed', `Cannot remove the token cache file ${this.path}: ${oneLineReason(error)}. Delete it by hand.`, {
        cause: error,
      });
    }
  }
}

function describeFile(path: string): string {
  return `file ${path} (mode 0${PRIVATE_FILE_MODE.toString(8)})`;
}

/** chmod `path` to `wanted` when it exists with other bits; a missing path is left missing. */
async function tightenMode(path: string, wanted: number): Promise<void> {
  try {
    const { mode } = await stat(path);
    if ((mode & 0o777) !== wanted) await chmod(path, wanted);
  } catch (error) {
    if (hasErrorCode(error, 'ENOENT')) return;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Keychain store

/**
 * One entry in the OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on
 * Windows), reached through @napi-rs/keyring in the keychain helper process (see keychain-process.ts).
 *
 * Size: MSAL's cache JSON is a few KB and grows with accounts and scopes. The Secret Service and
 * the macOS Keychain take that easily; Windows Credential Manager caps a secret at 2,560 bytes
 * (CRED_MAX_CREDENTIAL_BLOB_SIZE), so a Windows port would have to split the value over entries.
 */
export class KeychainSecretStore implements SecretStore {
  readonly kind = 'keychain';
  readonly description = `OS keychain (${keychainName()})`;

  constructor(
    readonly service: string,
    readonly account: string,
  ) {}

  async read(): Promise<string | null> {
    return this.#call('read', { op: 'get' });
  }

  async write(value: string): Promise<void> {
    await this.#call('write', { op: 'set', value });
  }

  async clear(): Promise<void> {
    // Deleting an entry that does not exist is not an error for the keychain binding.
    await this.#call('clear', { op: 'delete' });
  }

  async #call(action: string, request: KeychainRequest): Promise<string | null> {
    try {
      return await keychainCall(this.service, this.account, request, KEYCHAIN_OPERATION_TIMEOUT_MS);
    } catch (error) {
      throw new AccessError(
        'secret_store_failed',
        `Cannot ${action} the token cache in the ${this.description} ` +
          `(service "${this.service}", account "${this.account}"): ${oneLineReason(error)}. ` +
          `Unlock the keychain and retry, or set ${TOKEN_STORE_ENV}=file to keep tokens in a file.`,
        { cause: error },
      );
    }
  }
}

function keychainName(): string {
  switch (process.platform) {
    case 'darwin':
      return 'macOS Keychain';
    case 'win32':
      return 'Windows Credential Manager';
    case 'linux':
      return 'Secret Service';
    default:
      return 'platform keyring';
  }
}

/** The keychain account of the user whose state dir is `home`: one per ACCESS_HOME. */
export function keychainAccountFor(home: string): string {
  return `tokens:${hashOfHome(home)}`;
}

function hashOfHome(home: string): string {
  return createHash('sha256').update(resolve(home)).digest('hex').slice(0, ACCOUNT_HASH_CHARS);
}

/**
 * Writes, reads back and deletes a throwaway entry. Resolves true when the keychain works; rejects
 * with the keychain's own error (e.g. "Couldn't access platform storage: AccessDenied") when not.
 * Each step gives up after PROBE_TIMEOUT_MS, or as soon as `signal` aborts. The entry name is
 * random so concurrent CLI runs never read each other's probe value.
 */
export async function probeKeychain(signal?: AbortSignal, service: string = KEYCHAIN_SERVICE): Promise<boolean> {
  const account = `probe:${randomBytes(8).toString('hex')}`;
  const expected = randomBytes(16).toString('hex');
  const call = (request: KeychainRequest): Promise<string | null> => keychainCall(service, account, request, PROBE_TIMEOUT_MS, signal);

  await call({ op: 'set', value: expected });
  let actual: string | null;
  try {
    actual = await call({ op: 'get' });
  } catch (error) {
    // Best-effort cleanup; the read failure is the reason worth reporting.
    await call({ op: 'delete' }).catch(() => undefined);
    throw error;
  }
  await call({ op: 'delete' });
  if (actual !== expected) throw new Error('the keychain did not return the value just stored');
  return true;
}

// ---------------------------------------------------------------------------------------------
// Choosing a store

export interface SecretStoreChoice {
  store: SecretStore;
  /** One line for stderr saying which store is used and why. */
  notice: string;
}

/** Path of the file store for the state dir `home`. */
export function tokenFilePath(home: string): string {
  return join(home, TOKEN_FILE_NAME);
}

/**
 * Picks the token store for the state dir `home`. `ACCESS_TOKEN_STORE=keychain|file` forces one;
 * otherwise the keychain is probed once (bounded by PROBE_TIMEOUT_MS) and the file store is the
 * fallback. `probe` resolves true when the keychain works; false or a rejection (whose message is
 * shown as the reason) means it does not.
 */
export async function chooseSecretStore(
  home: string,
  env: NodeJS.ProcessEnv,
  probe: (signal: AbortSignal) => Promise<boolean> = probeKeychain,
): Promise<SecretStoreChoice> {
  const forced = env[TOKEN_STORE_ENV];
  const keychain = new KeychainSecretStore(KEYCHAIN_SERVICE, keychainAccountFor(home));
  const file = new FileSecretStore(tokenFilePath(home));
  const fileNotice = `Token cache: ${describeFile(displayPath(file.path, env))}`;

  if (forced === 'file') {
    return { store: file, notice: `${fileNotice} — chosen by ${TOKEN_STORE_ENV}=file` };
  }
  if (forced !== undefined && forced !== '' && forced !== 'keychain') {
    throw new AccessError('usage', `${TOKEN_STORE_ENV}="${forced}" is not a token store. ` + `Use "keychain" or "file", or unset it to let access pick one.`);
  }

  const failure = await keychainFailure(probe);
  if (forced === 'keychain') {
    if (failure === null) {
      return { store: keychain, notice: `Token cache: ${keychain.description} — chosen by ${TOKEN_STORE_ENV}=keychain` };
    }
    throw new AccessError(
      'secret_store_failed',
      `${TOKEN_STORE_ENV}=keychain, but the OS keychain is not usable: ${failure}. ` +
        `Unlock or start your keychain (on Linux: a Secret Service such as gnome-keyring on the D-Bus session bus), ` +
        `or set ${TOKEN_STORE_ENV}=file to keep tokens in ${file.path} (mode 0600).`,
    );
  }

  if (failure === null) return { store: keychain, notice: `Token cache: ${keychain.description}` };
  return { store: file, notice: `${fileNotice} — no OS keychain available (${failure})` };
}

/** null when the probe says the keychain works, else a one-line reason. */
async function keychainFailure(probe: (signal: AbortSignal) => Promise<boolean>): Promise<string | null> {
  try {
    const works = await withDeadline(PROBE_TIMEOUT_MS, probe);
    return works ? null : 'the keychain probe failed';
  } catch (error) {
    return oneLineReason(error);
  }
}

/** `~/…` for paths under $HOME, so the notice stays short; anything else as is. */
function displayPath(path: string, env: NodeJS.ProcessEnv): string {
  const home = env['HOME'];
  if (!home) return path;
  const prefix = home.endsWith(sep) ? home : home + sep;
  return path.startsWith(prefix) ? `~${sep}${path.slice(prefix.length)}` : path;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * Rejects when `work` has not settled after `timeoutMs`, and aborts the signal it was given so
 * the work can stop too (the default probe kills its keychain helper). A late result is ignored.
 */
async function withDeadline<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function hasErrorCode(error: unknown, code: string): boolean {
  return error instanceof Error && 'code' in error && error.code === code;
}

/** The error's message on one short line, for notices and AccessError messages. */
export function oneLineReason(error: unknown): string {
  const text = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim();
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 1)}…` : text;
}
