// Real processes for end-to-end tests: the dev broker and CLI invocations, each CLI with its own
// ACCESS_HOME (one machine user each), driven the way a person or a script would.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpTransport } from '../../shared/http-transport.js';
import { RELAY_NODE_FLAGS } from '../../shared/relay-launch.js';

/**
 * The repository root: the nearest directory above this file with bin/access. Found rather than
 * fixed, because the benchmarks run this file compiled, from dist/bench-build/test/helpers.
 */
function findRepo(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'bin', 'access'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no bin/access above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

export const REPO = findRepo();
export const ACCESS_BIN = path.join(REPO, 'bin/access');
export const BROKER_BIN = path.join(REPO, 'bin/access-broker');
/**
 * Node options for every broker and CLI process spawned here: the relays' own (RELAY_NODE_FLAGS, so
 * a relay runs in the process spawned, as the bin would start it again, and its pid is the relay's),
 * then e.g. `--cpu-prof --cpu-prof-dir=DIR` from `npm run bench -- --profile DIR` (NODE_OPTIONS
 * refuses --cpu-prof). test/e2e/relay-launch.test.ts starts the bins without them.
 */
function childNodeFlags(): string[] {
  return [...RELAY_NODE_FLAGS, ...(process.env.ACCESS_CHILD_NODE_FLAGS?.split(' ').filter(Boolean) ?? [])];
}

/**
 * The fields of Linux's /proc/PID/stat after the command name (which may hold spaces and
 * parentheses): index 0 is field 3 (state), index n is field n + 3 (minflt 7, utime..cstime 11-14).
 */
export async function procStatFields(pid: number): Promise<string[]> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `access-test-${prefix}-`));
  // Under root the demo PostgreSQL runs as an unprivileged user that must traverse this dir.
  await chmod(dir, 0o711);
  return dir;
}

/** Environment for child processes: no colour, no inherited access settings. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const key of Object.keys(env)) if (key.startsWith('ACCESS_')) delete env[key];
  return { ...env, ...extra };
}

/** A running `access-broker dev` or `serve`. */
export interface DevBrokerProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** What the broker wrote to stderr so far: its operational log. */
  stderr: () => string;
  stop(): Promise<void>;
  /** SIGKILL, as a crash or the OOM killer would: no exit handler runs. Resolves once the process is gone. */
  kill(): Promise<void>;
}

/**
 * A TCP port that was free a moment ago, for a broker that must come back on the same URL after a
 * restart (the CLI remembers the broker URL). Port 0 picks it, so it never collides with a fixed
 * port such as a developer's running dev broker.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface DevBrokerOptions {
  /** Port to listen on; default 0 (any free port). */
  port?: number;
  /** Serve HTTPS/WSS: `--tls-cert`, `--tls-key` and, when given, `--tls-ca`. Default: plain HTTP. */
  tls?: { certFile: string; keyFile: string; caFile?: string };
}

function tlsArgs(tls: DevBrokerOptions['tls']): string[] {
  if (!tls) return [];
  return ['--tls-cert', tls.certFile, '--tls-key', tls.keyFile, ...(tls.caFile ? ['--tls-ca', tls.caFile] : [])];
}

/** Starts `access-broker dev --port 0` (or `options.port`, with `options.tls`) and resolves once it prints "Ready.". */
export function startDevBrokerProcess(args: string[] = [], env: Record<string, string> = {}, options: DevBrokerOptions = {}): Promise<DevBrokerProcess> {
  const port = String(options.port ?? 0);
  return startBrokerProcess(['dev', '--port', port, ...tlsArgs(options.tls), ...args], env, (out) => {
    const match = /Broker URL\s+(\S+)/.exec(out.stdout);
    return match && out.stdout.includes('Ready.') ? (match[1] as string) : null;
  });
}

/**
 * Starts `access-broker serve ARGS` (a real tenant's broker: `--config`, `--data`, `--port`) and
 * resolves once it logs that it listens.
 */
export function startServeBrokerProcess(args: string[], env: Record<string, string> = {}): Promise<DevBrokerProcess> {
  return startBrokerProcess(['serve', ...args], env, (out) => /broker listening url=(\S+)/.exec(out.stderr)?.[1] ?? null);
}

/** Spawns `access-broker ARGS`; resolves with its URL once `urlOf` reads one from its output so far. */
async function startBrokerProcess(
  args: string[],
  env: Record<string, string>,
  urlOf: (out: { stdout: string; stderr: string }) => string | null,
): Promise<DevBrokerProcess> {
  const child = spawn(process.execPath, [...childNodeFlags(), BROKER_BIN, ...args], {
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (): void => {
      const found = urlOf({ stdout: out, stderr: err });
      if (found) resolve(found);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`access-broker ${args[0]} exited with ${code}\nstdout:\n${out}\nstderr:\n${err}`)));
  });
  return {
    url,
    child,
    output: () => `${out}\n${err}`,
    stderr: () => err,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `access-broker ARGS` to completion (migrate, backup: commands that exit). */
export function runBroker(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...childNodeFlags(), BROKER_BIN, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<CliResult>;
}

export function startCli(args: string[], home: string, env: Record<string, string> = {}): CliRun {
  const child = spawn(process.execPath, [...childNodeFlags(), ACCESS_BIN, ...args], {
    env: cleanEnv({ ACCESS_HOME: home, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliResult>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

export function runCli(args: string[], home: string, env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, home, env).done;
}

/** Runs a `--json` command that must succeed and returns its parsed stdout. */
export async function runCliJson<T>(args: string[], home: string, env: Record<string, string> = {}): Promise<T> {
  const result = await runCli([...args, '--json'], home, env);
  if (result.code !== 0) throw new Error(`access ${args.join(' ')} --json exited with ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** Waits until `read()` matches `pattern` (polling the captured output of a child). */
export async function waitForMatch(read: () => string, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  const start = Date.now();
  for (;;) {
    const match = pattern.exec(read());
    if (match) return match;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${pattern}; got:\n${read()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Completes a device authorization the way the sign-in page's form does. `ca`: PEM certificates a
 * browser would have been told to trust for an https dev broker (a private CA). Default: none.
 */
export async function submitDeviceLogin(
  brokerUrl: string,
  userCode: string,
  username: string,
  ca: readonly string[] = [],
): Promise<{ status: number; body: string }> {
  // As a browser does: open the page, then submit its form with the token it carries.
  const transport = new HttpTransport({ extraCa: ca });
  const page = (await transport.request(`${brokerUrl}/devicelogin`)).body.toString('utf8');
  const formToken = /name="form_token" value="([^"]+)"/.exec(page)?.[1] ?? '';
  const res = await transport.request(`${brokerUrl}/devicelogin`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ user_code: userCode, username, form_token: formToken }).toString(),
  });
  return { status: res.status, body: res.body.toString('utf8') };
}

export const DEVICE_CODE_MESSAGE = /To sign in, use a web browser to open the page (\S+) and enter the code (\S+) to authenticate\./;

export interface LoginOptions {
  /** More `access login` arguments, e.g. `['--ca', file]`. Default: none. */
  args?: string[];
  /** PEM certificates the sign-in page is verified with (an https dev broker's private CA). Default: none. */
  pageCa?: readonly string[];
  /** Where the sign-in page is when the tenant is not the broker (a `serve` broker's tenant). Default: the broker's URL. */
  pageOrigin?: string;
}

/** `access login` as `username`, completing the device code through the sign-in page. */
export async function login(
  brokerUrl: string,
  home: string,
  username: string,
  env: Record<string, string> = {},
  options: LoginOptions = {},
): Promise<CliResult> {
  const run = startCli(['login', '--broker', brokerUrl, ...(options.args ?? [])], home, env);
  const match = await waitForMatch(run.stderr, DEVICE_CODE_MESSAGE);
  const page = await submitDeviceLogin(options.pageOrigin ?? brokerUrl, match[2] as string, username, options.pageCa);
  if (page.status !== 200) throw new Error(`device login form answered ${page.status}: ${page.body}`);
  return run.done;
}
