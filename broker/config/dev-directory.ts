// Consistency of a config's `devTenant` (the users and groups `access-broker dev --config` serves):
// names are unique, every reference names a declared group, and group nesting has no cycle (the
// dev tenant's transitive membership walk would otherwise never end, and in Entra a group cannot
// contain itself either).

import type { DevDirectory } from './types.js';
import type { ConfigProblem } from './problems.js';

/** Problems in a dev directory; paths are relative to the `devTenant` mapping. */
export function checkDevDirectory(directory: DevDirectory): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const declared = new Set<string>();

  directory.groups.forEach((group, index) => {
    if (declared.has(group.name)) {
      problems.push({ path: ['groups', index, 'name'], reason: 'is declared twice — group names must be unique', got: group.name });
    }
    declared.add(group.name);
  });

  const upns = new Set<string>();
  directory.users.forEach((user, index) => {
    const key = user.upn.toLowerCase();
    if (upns.has(key)) {
      problems.push({ path: ['users', index, 'upn'], reason: 'is declared twice — sign-in names must be unique', got: user.upn });
    }
    upns.add(key);
    user.groups.forEach((name, g) => {
      if (!declared.has(name)) problems.push(unknownGroup(['users', index, 'groups', g], name));
    });
  });

  directory.groups.forEach((group, index) => {
    group.memberOf.forEach((name, m) => {
      if (!declared.has(name)) problems.push(unknownGroup(['groups', index, 'memberOf', m], name));
    });
  });

  problems.push(...membershipCycles(directory));
  return problems;
}

/** The problem for a reference to a group the dev directory does not declare. */
export function unknownGroup(path: ConfigProblem['path'], name: string): ConfigProblem {
  return { path, reason: 'is not a group declared in devTenant.groups — declare it there or fix the name', got: name };
}

/**
 * One problem per `memberOf` entry that closes a cycle, found by depth-first search over the
 * nesting graph; the reason spells the cycle out so the fix is obvious.
 */
function membershipCycles(directory: DevDirectory): ConfigProblem[] {
  const parents = new Map<string, string[]>();
  const indexOf = new Map<string, number>();
  directory.groups.forEach((group, index) => {
    if (!indexOf.has(group.name)) indexOf.set(group.name, index);
    parents.set(group.name, [...(parents.get(group.name) ?? []), ...group.memberOf]);
  });

  const problems: ConfigProblem[] = [];
  const done = new Set<string>();
  const onStack: string[] = [];

  const visit = (name: string): void => {
    onStack.push(name);
    for (const parent of parents.get(name) ?? []) {
      const cycleStart = onStack.indexOf(parent);
      if (cycleStart >= 0) {
        const cycle = [...onStack.slice(cycleStart), parent].join(' → ');
        const groupIndex = indexOf.get(name) as number;
        const entry = directory.groups[groupIndex]?.memberOf.indexOf(parent) ?? 0;
        problems.push({
          path: ['groups', groupIndex, 'memberOf', entry],
          reason: `closes a membership cycle ${cycle} — a group cannot be nested inside itself`,
          got: parent,
        });
      } else if (!done.has(parent) && parents.has(parent)) {
        visit(parent);
      }
    }
    onStack.pop();
    done.add(name);
  };

  for (const name of parents.keys()) if (!done.has(name)) visit(name);
  return problems;
}
