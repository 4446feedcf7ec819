// The real keychain path: KeychainSecretStore and the probe against a real Secret Service
// (gnome-keyring on a private D-Bus session), against no D-Bus at all, and against a D-Bus that
// never answers. The code runs in child processes (a D-Bus session is per process tree), from a
// compile of cli/auth/secret-store.ts and its imports made for this test.

import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PROBE_TIMEOUT_MS } from '../../cli/auth/secret-store.js';

const run = promisify(execFile);
const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const fixture = join(repo, 'test', 'fixtures', 'keychain-store.mjs');
/** Generous: only there so a broken run fails instead of hanging; no test measures time. */
const CHILD_TIMEOUT_MS = 90_000;

function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const onLinux = process.platform === 'linux';
const missingTools = ['dbus-run-session', 'gnome-keyring-daemon'].filter((tool) => !onPath(tool));
if (!onLinux) {
  console.log('Skipping the real keychain tests: they drive the Linux Secret Service over D-Bus.');
} else if (missingTools.length > 0) {
  console.log(
    `Skipping the real Secret Service test: ${missingTools.join(' and ')} not found. ` + 'Install them with: apt-get install -y dbus-daemon gnome-keyring',
  );
}

let root = '';
let compiled = '';

/** A minimal environment: nothing from the developer's desktop session (DISPLAY, D-Bus, keyring) leaks in. */
function isolatedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: join(root, 'home'),
    XDG_DATA_HOME: join(root, 'data'),
    XDG_CONFIG_HOME: join(root, 'config'),
    XDG_RUNTIME_DIR: join(root, 'run'),
    ...extra,
  };
}

/** Runs the fixture and returns the JSON lines it printed. */
async function fixtureLines(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Array<Record<string, unknown>>> {
  const { stdout } = await run(command, args, { env, timeout: CHILD_TIMEOUT_MS, maxBuffer: 1 << 20 });
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const homeA = (): string => join(root, 'home', '.config', 'access-a');
const homeB = (): string => join(root, 'home', '.config', 'access-b');

describe.skipIf(!onLinux)('KeychainSecretStore on a real keychain', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'access-keychain-'));
    for (const dir of ['home', 'data', 'config', 'run']) await mkdir(join(root, dir), { mode: 0o700 });

    // The compiler finds @types/node, and the compiled files find @napi-rs/keyring and run as
    // ESM, exactly as from the repo.
    await symlink(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
    await writeFile(join(root, 'package.json'), '{"type":"module"}\n');
    // Compile only secret-store.ts and what it imports, with the project's compiler options, so
    // this test neither depends on nor rewrites the shared dist/ folder.
    await writeFile(
      join(root, 'tsconfig.json'),
      JSON.stringify({
        extends: join(repo, 'tsconfig.json'),
        compilerOptions: { rootDir: repo, outDir: join(root, 'out'), sourceMap: false },
        files: [join(repo, 'cli', 'auth', 'secret-store.ts')],
        include: [],
      }),
    );
    await run(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], {
      timeout: CHILD_TIMEOUT_MS,
    });
    compiled = join(root, 'out', 'cli', 'auth', 'secret-store.js');
  }, CHILD_TIMEOUT_MS);

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it.skipIf(missingTools.length > 0)(
    'stores, reads and clears tokens in a real Secret Service, one entry per ACCESS_HOME',
    async () => {
      // gnome-keyring reads the unlock password on stdin and creates the keyring on first use.
      // $1..$4 are the fixture, the compiled module and the two homes (after `sh` as $0).
      const step = (mode: string): string => `node "$1" "$2" ${mode} "$3" "$4"`;
      const script =
        'printf %s "$KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 1; ' +
        [step('exercise'), step('write'), step('read')].join(' && ');
      const [exercise, write, read] = await fixtureLines(
        'dbus-run-session',
        ['--', 'sh', '-c', script, 'sh', fixture, compiled, homeA(), homeB()],
        isolatedEnv({ KEYRING_PASSWORD: 'test-only-password' }),
      );

      expect(exercise).toEqual({
        probe: true,
        autoKind: 'keychain',
        autoNotice: 'Token cache: OS keychain (Secret Service)',
        forcedKind: 'keychain',
        description: 'OS keychain (Secret Service)',
        emptyBefore: null,
        readBackMatches: true,
        otherHome: null,
        afterOtherWriteMatches: true,
        afterClear: null,
        secondClear: null,
        otherHomeAfterClear: 'bob',
      });
      expect(write).toEqual({ written: true });
      // A second process finds what the first one stored: it lives in the keychain, not in memory.
      expect(read).toEqual({ readMatches: true });
    },
    CHILD_TIMEOUT_MS,
  );

  it(
    'falls back to the file store, saying why, when no D-Bus session bus is reachable',
    async () => {
      const env = isolatedEnv({ DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(root, 'run', 'no-such-bus')}` });
      const [result] = await fixtureLines(process.execPath, [fixture, compiled, 'unavailable', homeA(), homeB()], env);

      expect(result?.['autoKind']).toBe('file');
      expect(result?.['autoNotice']).toMatch(
        /^Token cache: file ~\/\.config\/access-a\/tokens\.json \(mode 0600\) — no OS keychain available \(.*no-such-bus.*\)$/,
      );
      expect(result?.['forced']).toMatchObject({ name: 'AccessError', code: 'secret_store_failed' });
      expect(String((result?.['forced'] as { message: string } | undefined)?.message)).toContain('ACCESS_TOKEN_STORE=file');
      expect(result?.['read']).toMatchObject({ name: 'AccessError', code: 'secret_store_failed' });
    },
    CHILD_TIMEOUT_MS,
  );

  describe('with a D-Bus that accepts connections and never answers', () => {
    let server: Server;
    const sockets = new Set<Socket>();
    const busPath = (): string => join(root, 'run', 'hung-bus');

    beforeAll(async () => {
      server = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined); // the client gives up and goes away; expected
      });
      await new Promise<void>((resolveListen) => server.listen(busPath(), resolveListen));
    });

    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    });

    it(
      'gives up after the probe timeout, falls back to the file store, and lets the process exit',
      async () => {
        const env = isolatedEnv({ DBUS_SESSION_BUS_ADDRESS: `unix:path=${busPath()}` });
        // That this call returns at all is the claim: the hung connection does not hold the process.
        const [result] = await fixtureLines(process.execPath, [fixture, compiled, 'hung', homeA(), homeB()], env);

        expect(result?.['autoKind']).toBe('file');
        expect(result?.['autoNotice']).toContain(`no OS keychain available (no answer within ${PROBE_TIMEOUT_MS} ms)`);
        expect(result?.['forced']).toMatchObject({ code: 'secret_store_failed' });
        expect(String((result?.['forced'] as { message: string } | undefined)?.message)).toContain(`no answer within ${PROBE_TIMEOUT_MS} ms`);
        expect(sockets.size).toBeGreaterThan(0); // it really talked to the hung bus
      },
      CHILD_TIMEOUT_MS,
    );
  });
});
