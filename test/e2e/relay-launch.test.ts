// The relays start again with their Node flags (shared/relay-launch.ts), as a person or a service
// manager starts them: `node bin/access connect …` and `node bin/access-broker dev` without
// RELAY_NODE_FLAGS (every other test's processes get them from the helpers, so their pid is the
// relay's). The relay then runs in a child with the flags, and each signal reaches it once: a
// terminal's Ctrl-C, which goes to the whole process group, still stops `access connect` cleanly
// (a second SIGINT would kill it), a SIGTERM to the launcher alone still ends it, and a relay whose
// launcher was killed does not outlive it.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAUNCHED_ENV, RELAY_NODE_FLAGS } from '../../shared/relay-launch.js';
import { ACCESS_BIN, BROKER_BIN, cleanEnv, procStatFields, tempDir, waitForMatch } from '../helpers/processes.js';
import { eventually, grant, LISTENING_LINE } from '../helpers/tunnel-broker.js';
import { connectTcp, echoRoundTrip } from '../helpers/tunnel-targets.js';
import { startTunnelWorld, type TunnelWorld } from '../helpers/tunnel-world.js';

interface Started {
  launcher: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `bin ARGS` as a shell does: no Node flags, a process group of its own (as a terminal's foreground job). */
function startBin(bin: string, args: string[], env: Record<string, string>): Started {
  const launcher = spawn(process.execPath, [bin, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  launcher.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  launcher.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    launcher.once('close', (code, signal) => resolve({ code, signal })),
  );
  return { launcher, output: () => output, exit };
}

/** The one child process of `pid` and its command line (Linux's /proc). */
async function onlyChild(pid: number): Promise<{ pid: number; argv: string[] }> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(' ').filter(Boolean);
  expect(children).toHaveLength(1);
  const child = Number(children[0]);
  const argv = (await readFile(`/proc/${child}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  return { pid: child, argv };
}

async function alive(pid: number): Promise<boolean> {
  try {
    // A zombie (state Z) has exited; only its parent has not collected it yet.
    return (await procStatFields(pid))[0] !== 'Z';
  } catch {
    return false;
  }
}

/** One round trip through the listener at `port` to the echo target. */
async function echoOnce(port: number): Promise<string> {
  const socket = await connectTcp('127.0.0.1', port);
  try {
    return await echoRoundTrip(socket, 'ping');
  } finally {
    socket.destroy();
  }
}

let world: TunnelWorld;
const started: Started[] = [];

beforeAll(async () => {
  world = await startTunnelWorld({ people: ['alice'] });
  await grant(world.people.alice, 'echo', '30m');
});

afterAll(async () => {
  try {
    for (const { launcher } of started) {
      if (launcher.exitCode === null && launcher.signalCode === null && launcher.pid) process.kill(-launcher.pid, 'SIGKILL');
    }
  } finally {
    await world?.stop();
  }
});

/** `access connect echo` as alice types it (with `env` added); resolves once it listens, with its port. */
async function listenEcho(env: Record<string, string> = {}): Promise<Started & { port: number }> {
  const alice = world.people.alice;
  const run = startBin(ACCESS_BIN, ['connect', 'echo'], { ACCESS_HOME: alice.home, ...alice.env, ...env });
  started.push(run);
  return { ...run, port: Number((await waitForMatch(run.output, LISTENING_LINE))[2]) };
}

/** listenEcho, with the relay child it started. */
async function connectEcho(): Promise<Started & { port: number; relay: { pid: number; argv: string[] } }> {
  const run = await listenEcho();
  return { ...run, relay: await onlyChild(run.launcher.pid as number) };
}

describe.runIf(process.platform === 'linux')('relays started without their Node flags', () => {
  it('`access connect` relays from a child running with RELAY_NODE_FLAGS, and Ctrl-C to the process group stops it cleanly, once', async () => {
    const run = await connectEcho();
    expect(run.relay.argv.slice(1, 1 + RELAY_NODE_FLAGS.length)).toEqual(RELAY_NODE_FLAGS);
    expect(await echoOnce(run.port)).toBe('ping');
    // A terminal's Ctrl-C: SIGINT to every process of the foreground group, launcher and relay alike.
    process.kill(-(run.launcher.pid as number), 'SIGINT');
    // Delivered twice, the second SIGINT would have killed the relay (exit by signal, not 0).
    expect(await run.exit).toEqual({ code: 0, signal: null });
    expect(await alive(run.relay.pid)).toBe(false);
  }, 60_000);

  it('a SIGTERM to the launcher alone ends the relay, and the launcher exits as the relay did', async () => {
    const run = await connectEcho();
    run.launcher.kill('SIGTERM');
    expect(await run.exit).toEqual({ code: null, signal: 'SIGTERM' });
    await eventually('the relay gone', async () => ((await alive(run.relay.pid)) ? undefined : true));
  }, 60_000);

  it('a relay whose launcher was killed outright stops too', async () => {
    const run = await connectEcho();
    run.launcher.kill('SIGKILL');
    // Its port is not checked: with the suite running, another test's listener may take it at once.
    await eventually('the relay gone', async () => ((await alive(run.relay.pid)) ? undefined : true));
  }, 60_000);

  it('a stray ACCESS_RELAUNCHED without a launcher changes nothing: the relay still stops on Ctrl-C', async () => {
    const run = await listenEcho({ [RELAUNCHED_ENV]: '1' });
    expect(await echoOnce(run.port)).toBe('ping');
    process.kill(-(run.launcher.pid as number), 'SIGINT');
    expect(await run.exit).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('`access-broker dev` runs in a child with RELAY_NODE_FLAGS and stops once on Ctrl-C', async () => {
    const data = await tempDir('relay-launch-broker');
    const run = startBin(BROKER_BIN, ['dev', '--port', '0', '--data', data], {});
    started.push(run);
    await waitForMatch(run.output, /Ready\./, 60_000);
    const broker = await onlyChild(run.launcher.pid as number);
    expect(broker.argv.slice(1, 1 + RELAY_NODE_FLAGS.length)).toEqual(RELAY_NODE_FLAGS);
    process.kill(-(run.launcher.pid as number), 'SIGINT');
    expect(await run.exit).toEqual({ code: 0, signal: null });
    expect(run.output().match(/stopping signal=SIGINT/g)).toHaveLength(1);
  }, 90_000);
});
