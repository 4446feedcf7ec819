// The dev tenant's directory: users and groups with stable object ids, direct memberships that
// tests may change live, and transitive membership through nested groups — what Entra computes
// for the `groups` claim, `checkMemberGroups` and `transitiveMemberOf`.

import { randomUUID } from 'node:crypto';
import { AccessError } from '../../shared/errors.js';
import type { DevDirectory } from '../config/types.js';

export interface DirectoryUser {
  readonly oid: string;
  readonly upn: string;
  readonly name: string;
  /** Names of the groups the user is a direct member of. */
  readonly groups: ReadonlySet<string>;
  /** Can complete multi-factor sign-in (DevUser.mfa). */
  readonly mfa: boolean;
}

export interface DirectoryGroup {
  readonly id: string;
  /** Unique in the dev directory: how config and memberships refer to the group. */
  readonly name: string;
  /** What Graph shows; may repeat another group's, as Entra display names may. */
  readonly displayName: string;
  readonly memberOf: readonly string[];
  /** False for a Microsoft 365 group. */
  readonly securityEnabled: boolean;
}

/** Object ids by lower-cased UPN and by group name; persisted so a reopened tenant keeps them. */
export interface ObjectIds {
  users: Record<string, string>;
  groups: Record<string, string>;
}

/** Refuses a directory that names an unknown group or declares a user or group twice. */
export function validateDirectory(directory: DevDirectory): void {
  const groupNames = new Set<string>();
  for (const group of directory.groups) {
    if (!group.name.trim()) throw invalid('a group has an empty name; give every group a name');
    if (groupNames.has(group.name)) throw invalid(`group "${group.name}" is declared twice; keep one`);
    groupNames.add(group.name);
  }
  for (const group of directory.groups) {
    for (const parent of group.memberOf) {
      if (!groupNames.has(parent)) {
        throw invalid(`group "${group.name}" is a member of unknown group "${parent}"; declare "${parent}" under groups`);
      }
    }
  }
  const upns = new Set<string>();
  for (const user of directory.users) {
    if (!/^[^@\s]+@[^@\s]+$/.test(user.upn)) {
      throw invalid(`user "${user.upn}" is not a user principal name; write it as name@domain`);
    }
    const key = user.upn.toLowerCase();
    if (upns.has(key)) throw invalid(`user "${user.upn}" is declared twice; keep one`);
    upns.add(key);
    for (const group of user.groups) {
      if (!groupNames.has(group)) {
        throw invalid(`user "${user.upn}" is in unknown group "${group}"; declare "${group}" under groups`);
      }
    }
  }
}

function invalid(message: string): AccessError {
  return new AccessError('config_invalid', `dev directory: ${message}`);
}

/**
 * Object ids for the directory's users and groups: the previous id when the same UPN or group name
 * had one, a new GUID otherwise. Entries no longer in the directory are dropped, so a user removed
 * and added again is a new object, as in Entra.
 */
export function assignObjectIds(directory: DevDirectory, previous: ObjectIds | null): ObjectIds {
  const ids: ObjectIds = { users: {}, groups: {} };
  for (const user of directory.users) {
    const key = user.upn.toLowerCase();
    ids.users[key] = previous?.users[key] ?? randomUUID();
  }
  for (const group of directory.groups) {
    ids.groups[group.name] = previous?.groups[group.name] ?? randomUUID();
  }
  return ids;
}

export class Directory {
  readonly #users: Array<DirectoryUser & { groups: Set<string> }>;
  readonly #groups: DirectoryGroup[];
  readonly #groupsByName = new Map<string, DirectoryGroup>();
  readonly #groupsById = new Map<string, DirectoryGroup>();

  /** `directory` must have passed validateDirectory and `ids` must cover it (assignObjectIds). */
  constructor(directory: DevDirectory, ids: ObjectIds) {
    this.#groups = directory.groups.map((g) => ({
      id: idOf(ids.groups, g.name),
      name: g.name,
      displayName: g.displayName ?? g.name,
      memberOf: [...g.memberOf],
      securityEnabled: g.securityEnabled ?? true,
    }));
    for (const group of this.#groups) {
      this.#groupsByName.set(group.name, group);
      this.#groupsById.set(group.id, group);
    }
    this.#users = directory.users.map((u) => ({
      oid: idOf(ids.users, u.upn.toLowerCase()),
      upn: u.upn,
      name: u.name,
      groups: new Set(u.groups),
      mfa: u.mfa ?? false,
    }));
  }

  users(): readonly DirectoryUser[] {
    return this.#users;
  }

  groups(): readonly DirectoryGroup[] {
    return this.#groups;
  }

  /** A user by object id or by UPN (case-insensitive), as Graph's `/users/{id-or-upn}` resolves. */
  findUser(idOrUpn: string): DirectoryUser | undefined {
    const key = idOrUpn.toLowerCase();
    return this.#users.find((u) => u.oid === key || u.upn.toLowerCase() === key);
  }

  groupById(id: string): DirectoryGroup | undefined {
    return this.#groupsById.get(id.toLowerCase());
  }

  groupByName(name: string): DirectoryGroup | undefined {
    return this.#groupsByName.get(name);
  }

  /** Every group the user is in directly or through nesting, in declaration order. */
  transitiveGroups(user: DirectoryUser): DirectoryGroup[] {
    const reached = new Set<string>();
    const queue = [...user.groups];
    // Nesting may form a cycle in a hand-written config; the visited set ends the walk anyway.
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      if (reached.has(name)) continue;
      reached.add(name);
      queue.push(...(this.#groupsByName.get(name)?.memberOf ?? []));
    }
    return this.#groups.filter((g) => reached.has(g.name));
  }

  /** Adds or removes a direct membership (tests simulate a directory change with it). */
  setMembership(upn: string, groupName: string, member: boolean): void {
    const user = this.#users.find((u) => u.upn.toLowerCase() === upn.toLowerCase());
    if (!user) throw new AccessError('not_found', `dev tenant has no user "${upn}"; use one of ${this.#upnList()}`);
    if (!this.#groupsByName.has(groupName)) {
      throw new AccessError('not_found', `dev tenant has no group "${groupName}"; declare it in the dev directory first`);
    }
    if (member) user.groups.add(groupName);
    else user.groups.delete(groupName);
  }

  #upnList(): string {
    return this.#users.map((u) => u.upn).join(', ');
  }
}

function idOf(ids: Record<string, string>, key: string): string {
  const id = ids[key];
  if (id === undefined) throw new Error(`no object id assigned for "${key}"`);
  return id;
}
