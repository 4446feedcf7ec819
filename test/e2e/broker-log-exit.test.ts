// The broker's log lines are written a turn at a time (broker/log.ts turnLines); a process that
// ends in the turn it logged in must still write them: at process.exit, and before Node prints an
// uncaught exception.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/processes.js';

const LOG_MODULE = path.join(REPO, 'dist/broker/log.js');

/** Runs `body` in a fresh node with `log` a consoleLogger on stderr; returns its stderr. */
function stderrOf(body: string): string {
  const script = `const { consoleLogger } = await import(${JSON.stringify(LOG_MODULE)}); const log = consoleLogger(); ${body}`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).stderr;
}

describe('the broker log at exit', () => {
  it('writes the lines of the last turn when the process exits in it', () => {
    const stderr = stderrOf("log.info('first'); log.warn('second'); process.exit(3);");
    expect(stderr).toMatch(/ info first\n.* warn second\n$/);
  });

  it('writes them before Node prints an uncaught exception', () => {
    const stderr = stderrOf("setTimeout(() => { log.error('before the crash'); throw new Error('boom'); });");
    expect(stderr).toContain(' error before the crash\n');
    expect(stderr.indexOf('before the crash')).toBeLessThan(stderr.indexOf('Error: boom'));
  });
});
