// A real headless Chromium for end-to-end tests of the browser sign-in, driven over the DevTools
// protocol with `ws` (no browser download: the machine's /usr/bin/chromium). A test opens a page,
// waits for an element, clicks it; the page's own form posts and scripts run as they would for a
// person.

import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import WebSocket from 'ws';
import { tempDir } from './processes.js';
import { programMissing } from './programs.js';

/** The Chromium the tests use; CHROMIUM overrides it. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Why browser tests cannot run here, or null when they can. */
export function chromiumMissing(): string | null {
  return programMissing(CHROMIUM, 'chromium');
}

/** How long to wait for Chromium to start or a page element to appear: generous, the machine is shared. */
const WAIT_MS = 60_000;

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
}

export interface Page {
  /** Evaluates `expression` in the page; resolves its (JSON) value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Waits until `selector` matches an element, then clicks it. */
  click(selector: string): Promise<void>;
  /** Waits until `expression` is truthy in the page (whatever document is loaded then). */
  waitFor(expression: string): Promise<void>;
}

export class Chromium {
  readonly #child: ChildProcess;
  readonly #socket: WebSocket;
  readonly #profile: string;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  private constructor(child: ChildProcess, socket: WebSocket, profile: string) {
    this.#child = child;
    this.#socket = socket;
    this.#profile = profile;
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      if (message.id === undefined) return;
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.error) pending.reject(new Error(`DevTools: ${message.error.message}`));
      else pending.resolve(message.result ?? {});
    });
  }

  static async launch(): Promise<Chromium> {
    const profile = await tempDir('chromium-profile');
    const args = [
      '--headless=new',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      // Chromium refuses to run as root with its sandbox (CI containers run as root).
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      'about:blank',
    ];
    const child = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const endpoint = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Chromium did not start within ${WAIT_MS} ms:\n${stderr}`)), WAIT_MS);
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          resolve(match[1] as string);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Chromium exited with ${code}:\n${stderr}`));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`Chromium (${CHROMIUM}) did not start: ${error.message}`));
      });
    });
    const socket = new WebSocket(endpoint, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new Chromium(child, socket, profile);
  }

  #send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  /** Opens `url` in a new tab. */
  async open(url: string): Promise<Page> {
    const { targetId } = (await this.#send('Target.createTarget', { url })) as { targetId: string };
    const { sessionId } = (await this.#send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const evaluate = async <T>(expression: string): Promise<T> => {
      const result = (await this.#send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId)) as {
        result: { value?: T };
        exceptionDetails?: { text: string };
      };
      if (result.exceptionDetails) throw new Error(`in the page: ${result.exceptionDetails.text}`);
      return result.result.value as T;
    };
    const waitFor = async (expression: string): Promise<void> => {
      const start = Date.now();
      for (;;) {
        // A navigation between polls destroys the context an evaluation ran in: try again.
        const ok = await evaluate<boolean>(`Boolean(${expression})`).catch(() => false);
        if (ok) return;
        if (Date.now() - start > WAIT_MS) {
          const html = await evaluate<string>('document.documentElement.outerHTML').catch(() => '(unreadable)');
          throw new Error(`timed out waiting for ${expression} in the page:\n${html}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    return {
      evaluate,
      waitFor,
      click: async (selector) => {
        const query = `document.querySelector(${JSON.stringify(selector)})`;
        await waitFor(query);
        await evaluate(`${query}.click()`);
      },
    };
  }

  async close(): Promise<void> {
    this.#socket.close();
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      await new Promise<void>((resolve) => {
        this.#child.once('exit', () => resolve());
        this.#child.kill('SIGTERM');
      });
    }
    await rm(this.#profile, { recursive: true, force: true });
  }
}
