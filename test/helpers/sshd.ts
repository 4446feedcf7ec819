// The test's own OpenSSH server on a loopback port: a throwaway host key, one throwaway user key
// authorized for the user running the tests, no PAM, started with `sshd -D` and stopped by the
// test. When no sshd is installed (Debian: `apt-get install openssh-server`), `startSshd` says why
// instead, and the tests that need it are skipped with that reason.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitForMatch } from './processes.js';

const run = promisify(execFile);

/** Where Debian's openssh-server puts the daemon; PATH is tried too. */
const SSHD_CANDIDATES = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'];
/** sshd run as root insists on its privilege separation directory (Debian's service creates it). */
const PRIVSEP_DIR = '/run/sshd';

export interface Sshd {
  port: number;
  /** The user the authorized key logs in as (the one running the tests). */
  user: string;
  /** The private key ssh must offer (`-i`). */
  keyFile: string;
  /** The host key's public half, for a known_hosts line: `<alias> <hostKeyPublic>`. */
  hostKeyPublic: string;
  output: () => string;
  stop(): Promise<void>;
}

async function executable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findSshd(): Promise<string | null> {
  for (const file of SSHD_CANDIDATES) if (await executable(file)) return file;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && (await executable(path.join(dir, 'sshd')))) return path.join(dir, 'sshd');
  }
  return null;
}

function sshdConfig(dir: string): string {
  return [
    `HostKey ${path.join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    'ListenAddress 127.0.0.1',
    // No PAM and no ownership checks on the temp dir: this sshd only ever lets the test's key in.
    'UsePAM no',
    'StrictModes no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'LogLevel VERBOSE',
    '',
  ].join('\n');
}

/** Starts sshd on `port` (a free loopback port), or returns the reason it cannot run here. */
export async function startSshd(dir: string, port: number): Promise<Sshd | { unavailable: string }> {
  const sshd = await findSshd();
  if (!sshd) return { unavailable: 'no sshd on this machine (Debian: apt-get install openssh-server)' };
  if (process.getuid?.() === 0) await mkdir(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
  const hostKey = path.join(dir, 'host_key');
  const keyFile = path.join(dir, 'user_key');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'access-test-host', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'access-test-user', '-f', keyFile]);
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(`${keyFile}.pub`));
  const config = path.join(dir, 'sshd_config');
  await writeFile(config, sshdConfig(dir));
  try {
    await run(sshd, ['-t', '-f', config]);
  } catch (error) {
    return { unavailable: `sshd refuses its test configuration: ${(error as { stderr?: string }).stderr?.trim() ?? String(error)}` };
  }

  // -e: log to stderr, where "Server listening" says it accepts connections.
  const child: ChildProcess = spawn(sshd, ['-D', '-e', '-f', config, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`sshd exited with ${code}:\n${log}`))));
  exited.catch(() => undefined);
  await Promise.race([waitForMatch(() => log, /Server listening on 127\.0\.0\.1 port/, 10_000), exited]);
  const [type, key] = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/);
  return {
    port,
    user: os.userInfo().username,
    keyFile,
    hostKeyPublic: `${type} ${key}`,
    output: () => log,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
