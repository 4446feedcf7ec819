// The CLI starts like bare node: `access --help`, `access help CMD` and a command refused before
// it reaches the broker import none of the heavy libraries (MSAL, the prompts, ws) — each is
// imported by the code that first uses it. Checked without timing: a module hook (loaded through
// NODE_OPTIONS) writes every module URL the CLI process resolves to a file.

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/processes.js';

/** The packages that made up most of the start time when every command was imported up front. */
const HEAVY = ['@azure/msal-node', '@inquirer/prompts', 'ws'] as const;

const HOOKS = `
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.MODULE_LOG, resolved.url + '\\n');
  return resolved;
}
`;

let dir: string;
let register: string;

beforeAll(async () => {
  dir = await tempDir('cli-start');
  await writeFile(path.join(dir, 'hooks.mjs'), HOOKS);
  register = path.join(dir, 'register.mjs');
  await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});\n`);
});

/** Runs the CLI with an empty ACCESS_HOME and returns its exit code, output and the packages it imported. */
async function runRecorded(args: string[], name: string): Promise<{ code: number | null; stdout: string; packages: Set<string>; urls: string[] }> {
  const log = path.join(dir, `${name}.log`);
  await writeFile(log, '');
  const home = await tempDir(`cli-start-${name}`);
  const result = await runCli(args, home, { MODULE_LOG: log, NODE_OPTIONS: `--import ${pathToFileURL(register).href}` });
  const urls = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  const packages = new Set(urls.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []));
  return { code: result.code, stdout: result.stdout, packages, urls };
}

describe('CLI start', () => {
  it('prints `access --help` without importing MSAL, the prompts or ws', async () => {
    const { code, stdout, packages } = await runRecorded(['--help'], 'help');
    expect(code).toBe(0);
    expect(stdout).toMatch(/connect \[options\] <name>/);
    // The recorder works: commander, which parses the arguments, is in the set.
    expect(packages).toContain('commander');
    for (const heavy of HEAVY) expect(packages).not.toContain(heavy);
  });

  it("prints a command's options with `access help connect` without importing its implementation", async () => {
    const { code, stdout, packages, urls } = await runRecorded(['help', 'connect'], 'help-connect');
    expect(code).toBe(0);
    // Only the registry and the declarations' helpers: no handler module (cli/commands/connect.js), no tunnel code.
    const cliModules = new Set(
      urls.filter((url) => url.includes('/cli/commands/') || url.includes('/cli/tunnel/')).map((url) => url.slice(url.indexOf('/cli/'))),
    );
    expect([...cliModules].sort()).toEqual(['/cli/commands/command.js', '/cli/commands/index.js']);
    expect(stdout).toMatch(/--stdio/);
    expect(stdout).toMatch(/--bind <address>.*default: 127\.0\.0\.1/s);
    for (const heavy of HEAVY) expect(packages).not.toContain(heavy);
  });

  it('refuses `access whoami` without a broker (exit 4) before importing MSAL or ws', async () => {
    const { code, packages } = await runRecorded(['whoami'], 'whoami');
    expect(code).toBe(4);
    for (const heavy of HEAVY) expect(packages).not.toContain(heavy);
  });
});
