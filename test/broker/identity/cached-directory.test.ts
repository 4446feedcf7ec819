import { describe, expect, it } from 'vitest';
import { AccessError } from '../../../shared/errors.js';
import type { GroupRef } from '../../../shared/wire.js';
import { CachedDirectory, SHARED_READ_MS } from '../../../broker/identity/cached-directory.js';
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

/** A directory whose reads answer when the test says, in any order. */
class HeldDirectory implements Directory {
  readonly reads: { resolve: (groups: GroupRef[]) => void; reject: (error: Error) => void }[] = [];
  memberGroups(): Promise<GroupRef[]> {
    return new Promise((resolve, reject) => this.reads.push({ resolve, reject }));
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

  it('makes one directory call for two fresh reads of the same user at the same time (two tunnels opening)', async () => {
    const inner = new HeldDirectory();
    const cached = new CachedDirectory(inner, 60_000, () => 0);
    const both = Promise.all([cached.fresh('u1'), cached.fresh('u1')]);
    expect(inner.reads).toHaveLength(1);
    inner.reads[0]?.resolve([{ id: 'g1', displayName: 'sg-eng' }]);
    expect(await both).toEqual([[{ id: 'g1', displayName: 'sg-eng' }], [{ id: 'g1', displayName: 'sg-eng' }]]);
  });

  it(`joins a read under way only while it is at most ${SHARED_READ_MS} ms old; after that a lookup reads again`, async () => {
    const inner = new HeldDirectory();
    let now = 0;
    const cached = new CachedDirectory(inner, 60_000, () => now);
    const first = cached.fresh('u1');
    now = SHARED_READ_MS;
    const joined = cached.fresh('u1');
    expect(inner.reads).toHaveLength(1);
    now = SHARED_READ_MS + 1;
    const own = cached.fresh('u1');
    expect(inner.reads).toHaveLength(2);
    // The newer read is the one joined from now on.
    const joinsTheNewer = cached.fresh('u1');
    expect(inner.reads).toHaveLength(2);
    inner.reads[1]?.resolve([]);
    inner.reads[0]?.resolve([{ id: 'g1', displayName: 'sg-eng' }]);
    expect(await own).toEqual([]);
    expect(await joinsTheNewer).toEqual([]);
    expect(await first).toEqual([{ id: 'g1', displayName: 'sg-eng' }]);
    expect(await joined).toEqual([{ id: 'g1', displayName: 'sg-eng' }]);
    // The older read answered last, but the cache keeps what the newer one said.
    expect(await cached.memberGroups('u1')).toEqual([]);
    expect(inner.reads).toHaveLength(2);
  });

  it('fails every lookup that joined a read when that read fails', async () => {
    const inner = new HeldDirectory();
    const cached = new CachedDirectory(inner, 60_000, () => 0);
    const lookups = [cached.fresh('u1'), cached.fresh('u1')];
    inner.reads[0]?.reject(new AccessError('directory_unavailable', 'Graph is down'));
    for (const lookup of lookups) await expect(lookup).rejects.toMatchObject({ code: 'directory_unavailable' });
  });

  it(`reads the directory for fresh() once the cached read began over ${SHARED_READ_MS} ms ago, however long the cache would trust it`, async () => {
    const inner = new FakeDirectory();
    let now = 0;
    const cached = new CachedDirectory(inner, 60_000, () => now);
    await cached.memberGroups('u1');
    inner.groups = [];
    now = SHARED_READ_MS + 1;
    expect(await cached.fresh('u1')).toEqual([]);
    expect(inner.calls).toBe(2);
  });

  it(`answers fresh() from a read that answered and began at most ${SHARED_READ_MS} ms ago (tunnels opening one after another)`, async () => {
    const inner = new HeldDirectory();
    let now = 0;
    const cached = new CachedDirectory(inner, 0, () => now);
    const first = cached.fresh('u1');
    now = 300;
    inner.reads[0]?.resolve([{ id: 'g1', displayName: 'sg-eng' }]);
    await first;
    // Counted from when the read began (0), not from its answer (300).
    now = SHARED_READ_MS;
    expect(await cached.fresh('u1')).toEqual([{ id: 'g1', displayName: 'sg-eng' }]);
    expect(inner.reads).toHaveLength(1);
    now = SHARED_READ_MS + 1;
    const next = cached.fresh('u1');
    expect(inner.reads).toHaveLength(2);
    inner.reads[1]?.resolve([]);
    expect(await next).toEqual([]);
  });

  it('never answers fresh() from a read that failed, nor from what was cached before it', async () => {
    const inner = new FakeDirectory();
    let now = 0;
    const cached = new CachedDirectory(inner, 60_000, () => now);
    await cached.memberGroups('u1');
    now = SHARED_READ_MS + 1;
    inner.failing = true;
    await expect(cached.fresh('u1')).rejects.toMatchObject({ code: 'directory_unavailable' });
    now += 1;
    await expect(cached.fresh('u1')).rejects.toMatchObject({ code: 'directory_unavailable' });
    expect(inner.calls).toBe(3);
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
