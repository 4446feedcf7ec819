// Group membership as the broker sees it. The `groups` claim of a token is never enough (it
// disappears above 200 groups and goes stale the moment someone is removed), so every check reads
// the directory: Microsoft Graph in production and under `access-broker dev` alike.

import type { GroupRef } from '../../shared/wire.js';
import type { Principal } from '../auth/principal.js';

const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a policy's group reference is an Entra object id (else a dev tenant display name). */
export function isGroupId(ref: string): boolean {
  return OBJECT_ID.test(ref);
}

export interface Directory {
  /**
   * The user's transitive group membership. Throws AccessError `directory_unavailable` when the
   * directory cannot answer: callers must fail closed, never fall back to the token's claims.
   */
  memberGroups(oid: string): Promise<GroupRef[]>;
}

/** A directory that can bypass its cache (CachedDirectory): decisions that must be current read through it. */
export interface FreshDirectory extends Directory {
  /** The membership as the directory has it now, never from a cache. */
  fresh(oid: string): Promise<GroupRef[]>;
}

export function hasFreshReads(directory: Directory): directory is FreshDirectory {
  return typeof (directory as Partial<FreshDirectory>).fresh === 'function';
}

/**
 * The caller's groups, as the directory answers (cached where it caches): what every permission
 * check of the broker reads. Apps (service principals) act through roles, not groups: none.
 */
export function callerGroups(directory: Directory, principal: Principal): Promise<GroupRef[]> {
  if (principal.kind === 'app') return Promise.resolve([]);
  return directory.memberGroups(principal.oid);
}

/** The user's groups read now (bypassing any cache) when the directory can, else as it answers. */
export function currentGroups(directory: Directory, oid: string): Promise<GroupRef[]> {
  return hasFreshReads(directory) ? directory.fresh(oid) : directory.memberGroups(oid);
}

/**
 * Whether any of `groups` is named by `refs`. A reference that is an object id matches that id and
 * nothing else — never a group whose display name happens to be the same text; display names are
 * not unique and anyone may create a group with any name. Only the dev tenant's policies may name
 * groups by display name (config/group-refs.ts); those compare without regard to case, as Entra does.
 */
export function inAnyGroup(groups: readonly GroupRef[], refs: readonly string[]): boolean {
  if (refs.length === 0) return false;
  const ids = new Set<string>();
  const names = new Set<string>();
  for (const ref of refs) (isGroupId(ref) ? ids : names).add(ref.toLowerCase());
  return groups.some((g) => ids.has(g.id.toLowerCase()) || (names.size > 0 && names.has(g.displayName.toLowerCase())));
}
