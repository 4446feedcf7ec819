// Setup file of the unit project: a unit test that starts a process fails, naming the call and
// where such a test belongs. Processes (the demo PostgreSQL, a keychain over D-Bus, a command run
// by `access connect --`) made the unit loop slow and load-sensitive; they are end-to-end tests.

import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';

const STARTERS = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;
/** With `isolate: false` this file runs before every test file of a worker; patch once. */
const PATCHED = Symbol.for('access.test.noProcesses');

const starters = childProcess as unknown as Record<string | symbol, unknown>;
if (!starters[PATCHED]) {
  for (const name of STARTERS) {
    starters[name] = (command: unknown) => {
      throw new Error(`a unit test called child_process.${name}(${JSON.stringify(String(command))}): tests that start processes belong in test/e2e/`);
    };
  }
  starters[PATCHED] = true;
  // Modules that imported { spawn } from 'node:child_process' see the patched functions too.
  syncBuiltinESMExports();
}
