// The dev tenant's simulated Graph faults (ACCESS_DEV_GRAPH_FAULTS): read from a file on every
// call, and nothing at all without the variable.

import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { GRAPH_FAULTS_ENV, graphFaultsFromEnv, readGraphFault } from '../../../broker/devtenant/graph-faults.js';

describe('Graph faults of a dev broker', () => {
  it('reads down, stall, or nothing from the first word of the file, as it is now', async () => {
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'graph-faults-')), 'fault');
    expect(readGraphFault(file)).toBeNull(); // no file yet
    await writeFile(file, 'down\n');
    expect(readGraphFault(file)).toBe('down');
    await writeFile(file, '  stall for the slow test');
    expect(readGraphFault(file)).toBe('stall');
    await writeFile(file, 'Down');
    expect(readGraphFault(file)).toBeNull();
    await writeFile(file, '');
    expect(readGraphFault(file)).toBeNull();
  });

  it('never faults without the variable', () => {
    expect(graphFaultsFromEnv({})()).toBeNull();
    expect(GRAPH_FAULTS_ENV).toBe('ACCESS_DEV_GRAPH_FAULTS');
  });
});
