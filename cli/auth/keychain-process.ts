// Every OS keychain call runs in one small helper process, never in the CLI's own process.
//
// Why (measured on Linux, see the test with a hung D-Bus): @napi-rs/keyring talks to the Secret
// Service with blocking D-Bus calls, and even its AsyncEntry connects synchronously in the
// constructor. Against a D-Bus socket that accepts but never answers, `new AsyncEntry(…)` froze
// the main thread, timers included, until the socket closed. Moving the call to a worker thread
// keeps the timers running but not the exit: Node joins worker threads when the process ends,
// even on process.exit(), so the CLI still hung. A child process can be killed, so a deadline
// really ends the wait. The cost is one `node` start (tens of ms) per CLI run that uses the keychain.

import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';

import type { EntryOptions } from '@napi-rs/keyring';

export type KeychainRequest = { op: 'get' } | { op: 'set'; value: string } | { op: 'delete' };

/**
 * On Linux, require the Secret Service. Left to itself the binding silently falls back to the
 * kernel keyring (keyutils), which forgets everything at logout or reboot; the user would lose
 * the sign-in without being told. Ignored on macOS and Windows.
 */
const ENTRY_OPTIONS: EntryOptions = { linux: { store: 'secret-service' } };

/**
 * The helper's code, run with `node -e` so it works the same from `dist/` and from the TypeScript
 * sources under vitest. It uses the blocking `Entry` API (blocking is harmless there, and keeps
 * calls in order) and exits when the CLI goes away. Secrets travel over the IPC pipe, never argv.
 */
const HELPER_SOURCE = `
'use strict';
let keyring = null;
const reply = (message) => { if (process.connected) process.send(message); };
process.on('disconnect', () => process.exit(0));
process.on('message', ({ id, service, account, options, request }) => {
  try {
    keyring = keyring || require(process.argv[1]);
    const entry = new keyring.Entry(service, account, options);
    let value = null;
    if (request.op === 'get') value = entry.getPassword();
    else if (request.op === 'set') entry.setPassword(request.value);
    else if (request.op === 'delete') entry.deletePassword();
    else throw new Error('unknown keychain operation ' + JSON.stringify(request.op));
    reply({ id, ok: true, value: value === undefined ? null : value });
  } catch (error) {
    reply({ id, ok: false, reason: error instanceof Error ? error.message : String(error) });
  }
});
`;

interface Reply {
  id: number;
  ok: boolean;
  value?: string | null;
  reason?: string;
}

interface Pending {
  resolve(value: string | null): void;
  reject(error: Error): void;
}

class KeychainHelper {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #broken: Error | null = null;

  constructor(keyringPath: string) {
    this.#child = spawn(process.execPath, ['-e', HELPER_SOURCE, keyringPath], {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      // The helper needs the session's D-Bus address (and, on macOS/Windows, nothing else).
      env: process.env,
    });
    this.#child.on('message', (reply: Reply) => {
      const pending = this.#pending.get(reply.id);
      if (!pending) return; // the caller already gave up on it
      if (reply.ok) pending.resolve(reply.value ?? null);
      else pending.reject(new Error(reply.reason ?? 'the keychain failed without saying why'));
    });
    this.#child.on('error', (error) => this.#fail(error));
    this.#child.on('exit', (code, signal) => this.#fail(new Error(`the keychain helper stopped (${signal ? `signal ${signal}` : `exit code ${code}`})`)));
    // Never holds the CLI open: while a call is pending, its deadline timer does. After the
    // listeners, because adding a 'message' listener refs the IPC channel again.
    this.#child.unref();
    this.#child.channel?.unref();
  }

  get broken(): boolean {
    return this.#broken !== null;
  }

  call(service: string, account: string, request: KeychainRequest, timeoutMs: number, signal?: AbortSignal): Promise<string | null> {
    if (this.#broken) return Promise.reject(this.#broken);
    return new Promise<string | null>((resolve, reject) => {
      const id = ++this.#nextId;
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(id);
      };
      // A keychain that does not answer may never answer: kill the helper, so the next call
      // starts a fresh one and nothing is left waiting on the stuck D-Bus connection.
      const giveUp = (error: Error): void => {
        settle();
        reject(error);
        this.#abandon(error);
      };
      const onAbort = (): void => giveUp(new Error('the keychain call was cancelled'));
      const timer = setTimeout(() => giveUp(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });

      this.#pending.set(id, {
        resolve: (value) => {
          settle();
          resolve(value);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      this.#child.send({ id, service, account, options: ENTRY_OPTIONS, request }, (error) => {
        if (error) this.#fail(error);
      });
    });
  }

  #abandon(reason: Error): void {
    this.#fail(reason);
    this.#child.kill('SIGKILL'); // SIGKILL: the helper may be blocked in native code
  }

  #fail(reason: Error): void {
    this.#broken ??= reason;
    for (const pending of [...this.#pending.values()]) pending.reject(reason);
  }
}

let shared: KeychainHelper | null = null;

/**
 * Runs one keychain operation in the keychain helper process. Resolves the stored value for `get`
 * (null when absent) and null otherwise; rejects with the keychain's own error message, with
 * "no answer within N ms" after `timeoutMs`, or when `signal` aborts.
 */
export async function keychainCall(
  service: string,
  account: string,
  request: KeychainRequest,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string | null> {
  if (!shared || shared.broken) shared = new KeychainHelper(resolveKeyring());
  return shared.call(service, account, request, timeoutMs, signal);
}

function resolveKeyring(): string {
  // Resolved here, where node_modules is known; the helper runs from an arbitrary cwd.
  return createRequire(import.meta.url).resolve('@napi-rs/keyring');
}
