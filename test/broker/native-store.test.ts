// The store-using commands load through withStoreBinding: a missing SQLite binding becomes one
// error naming the install command; anything else passes through untouched.

import { describe, expect, it } from 'vitest';
import { withStoreBinding } from '../../broker/native-store.js';
import { peerRange } from '../../shared/version.js';

/** The error Node's ESM loader throws for a package that is not installed. */
function notFound(name: string): Error {
  return Object.assign(new Error(`Cannot find package '${name}' imported from /usr/lib/node_modules/access/dist/broker/store/database.js`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}

describe('withStoreBinding', () => {
  it('turns a missing better-sqlite3 into dependency_missing with the install command and its version range', async () => {
    await expect(withStoreBinding(() => Promise.reject(notFound('better-sqlite3')))).rejects.toMatchObject({
      code: 'dependency_missing',
      message: expect.stringContaining(`npm install -g better-sqlite3@${peerRange('better-sqlite3')}`),
    });
    expect(peerRange('better-sqlite3')).toMatch(/^\^12\./);
  });

  it('passes any other failure through as it is, another missing package included', async () => {
    const ours = notFound('yaml');
    await expect(withStoreBinding(() => Promise.reject(ours))).rejects.toBe(ours);
    const broken = new Error('SyntaxError in a module');
    await expect(withStoreBinding(() => Promise.reject(broken))).rejects.toBe(broken);
  });

  it('returns the loaded module', async () => {
    await expect(withStoreBinding(async () => ({ run: 1 }))).resolves.toEqual({ run: 1 });
  });
});
