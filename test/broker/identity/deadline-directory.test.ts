// The deadline on a whole membership read: a hung directory fails closed with directory_unavailable
// instead of holding the caller's request until the caller's own timeout.

import { describe, expect, it } from 'vitest';
import { DeadlineDirectory, DIRECTORY_READ_DEADLINE_MS } from '../../../broker/identity/deadline-directory.js';
import type { Directory } from '../../../broker/identity/directory.js';
import { AccessError } from '../../../shared/errors.js';
import { DEFAULT_HTTP_TIMEOUT_MS } from '../../../shared/http-transport.js';

const hung: Directory = { memberGroups: () => new Promise(() => undefined) };
const answering: Directory = { memberGroups: async () => [{ id: 'g1', displayName: 'sg-eng' }] };
const failing: Directory = {
  memberGroups: async () => {
    throw new AccessError('directory_unavailable', 'Graph said 503');
  },
};

describe('DeadlineDirectory', () => {
  it('fails a read the directory never answers with directory_unavailable naming the user and the deadline', async () => {
    await expect(new DeadlineDirectory(hung, 50).memberGroups('alice')).rejects.toMatchObject({
      code: 'directory_unavailable',
      message: expect.stringMatching(/user alice within 0\.05s/),
    });
  });

  it('passes an answer and a failure through unchanged', async () => {
    expect(await new DeadlineDirectory(answering, 50).memberGroups('alice')).toEqual([{ id: 'g1', displayName: 'sg-eng' }]);
    await expect(new DeadlineDirectory(failing, 50).memberGroups('alice')).rejects.toMatchObject({ message: 'Graph said 503' });
  });

  it('gives up well before a CLI gives up on the broker', () => {
    expect(DIRECTORY_READ_DEADLINE_MS).toBeLessThan(DEFAULT_HTTP_TIMEOUT_MS);
  });
});
