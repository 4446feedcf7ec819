import { describe, expect, it } from 'vitest';
import { AccessError } from '../../../shared/errors.js';
import type { GroupRef } from '../../../shared/wire.js';
import { CachedDirectory } from '../../../broker/identity/cached-directory.js';
import { inAnyGroup, type Directory } from '../../../broker/identity/directory.js';

class FakeDirectory implements Directory {
  calls = 0;
  groups: GroupRef[] = [{ id: 'g1', displayName: 'sg-eng' }];
  failing = false;
  async memberGroups(): Promise<GroupRef[]> {
    this.calls++;
    if (this.failing) throw new AccessError('directory_unavailable', 'Graph is down');
    return this.groups;
  }
}

describe('CachedDirectory', () => {
  it('serves a fresh entry from memory', async () => {
    const inner = new FakeDirectory();
    let now = 0;
    const cached = new CachedDirectory(inner, 60_000, () => now);
    await cached.memberGroups('u1');
    now = 59_999;
    await cached.memberGroups('u1');
    expect(inner.calls).toBe(1);
  });

  it('reads the directory again once the entry has expired', async () => {
    const inner = new FakeDirectory();
    let now = 0;
    const cached = new CachedDirectory(inner, 60_000, () => now);
    await cached.memberGroups('u1');
    inner.groups = [];
    now = 60_000;
    expect(await cached.memberGroups('u1')).toEqual([]);
    expect(inner.calls).toBe(2);
  });

  it('fails closed when the directory is down and the entry is stale', async () => {
    const inner = new FakeDirectory();
    let now = 0;
    const cached = new CachedDirectory(inner, 60_000, () => now);
    await cached.memberGroups('u1');
    inner.failing = true;
    now = 61_000;
    await expect(cached.memberGroups('u1')).rejects.toMatchObject({ code: 'directory_unavailable' });
    // and does not resurrect the stale entry afterwards
    await expect(cached.memberGroups('u1')).rejects.toMatchObject({ code: 'directory_unavailable' });
  });

  it('shares one directory call between concurrent lookups of the same user', async () => {
    const inner = new FakeDirectory();
    const cached = new CachedDirectory(inner, 60_000, () => 0);
    await Promise.all([cached.memberGroups('u1'), cached.memberGroups('u1'), cached.memberGroups('u1')]);
    expect(inner.calls).toBe(1);
  });

  it('reads the directory for fresh() whatever the cache holds', async () => {
    const inner = new FakeDirectory();
    const cached = new CachedDirectory(inner, 60_000, () => 0);
    await cached.memberGroups('u1');
    await cached.fresh('u1');
    expect(inner.calls).toBe(2);
  });
});

describe('inAnyGroup', () => {
  const DBA = '3f1c0a2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b';
  const OTHER = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b';
  // A group someone created and named after another group's object id.
  const groups: GroupRef[] = [
    { id: DBA, displayName: 'SG-DBA' },
    { id: '5b4a3f2e-1d0c-4b9a-8f7e-6d5c4b3a2f1e', displayName: OTHER },
  ];
  it.each([
    [[DBA], true, 'by object id'],
    [[DBA.toUpperCase()], true, 'by object id written in upper case'],
    [['sg-dba'], true, 'by display name, regardless of case (dev tenant policies only)'],
    [['sg-eng'], false, 'not a member'],
    [[OTHER], false, 'an object id never matches a display name that spells it'],
    [[], false, 'an empty list names nobody'],
  ])('matches %j → %s (%s)', (refs, expected) => {
    expect(inAnyGroup(groups, refs)).toBe(expected);
  });
});
