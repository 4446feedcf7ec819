// Group references in the policy (requesters, approvers, autoApprove, breakGlass.groups, auditors, admins).
//
// Entra group display names are not unique, and by default every user may create a Microsoft 365
// group: a policy that names `sg-dba` would make anyone who creates a group called "SG-DBA" an
// approver. So `access-broker serve` accepts group object ids only and matches by id only; a name
// may stand beside the id as a label for people (checked against the tenant at start):
//
//   approvers:
//     - 0f8e6c1a-3b2d-4c5e-9f7a-1b2c3d4e5f60            # sg-dba (a YAML comment)
//     - { id: 0f8e6c1a-3b2d-4c5e-9f7a-1b2c3d4e5f60, name: sg-dba }
//
// The dev tenant (`access-broker dev`), whose groups the config itself declares, may use names.

import { z } from 'zod';
import { guid, strictMapping, text } from './fields.js';
import { isGroupId } from '../identity/directory.js';
import type { ConfigPath, ConfigProblem } from './problems.js';

export { isGroupId };

/** One group reference as written: the key policy matches on (an object id, or a dev display name) and an optional label. */
export interface GroupRefEntry {
  /** A lower-case object id, or (dev tenant only) a display name. */
  ref: string;
  /** The name written beside an id (`{ id, name }`), for people; null when none. */
  label: string | null;
}

/**
 * How the reason a display name is refused under `serve` begins; serve-config.ts recognises those
 * problems by it and adds the ids the tenant has for the name.
 */
export const GROUP_NAME_REASON =
  'is a group display name; `access-broker serve` matches groups by object id only (display names are not unique and anyone may create a group with any name)';

/** The whole reason for refusing the display name `name`. */
export function groupNameReason(name: string): string {
  return `${GROUP_NAME_REASON} — write the group's object id, e.g. \`- { id: <object id>, name: ${name} }\``;
}

/** Whether `problem` is a display name refused by GROUP_NAME_REASON; its `got` is the name. */
export function isGroupNameProblem(problem: { reason: string }): boolean {
  return problem.reason.startsWith(GROUP_NAME_REASON);
}

/**
 * A list of group references: each an object id, `{ id, name }`, or — unless `idsOnly` — a display
 * name (the dev tenant's groups).
 */
export function groupRefList(hint: string, options: { nonEmpty: boolean; idsOnly: boolean }) {
  const labelled = strictMapping(
    {
      id: guid("the group's object id (Entra admin center → Groups → the group → Object ID)"),
      name: text("the group's display name, as a label for people").optional(),
    },
    'a group as { id: <object id>, name: <display name> }',
  );
  const bare = text(hint);
  const entry = z.unknown().transform((value, ctx): GroupRefEntry => {
    const mapping = typeof value === 'object' && value !== null && !Array.isArray(value);
    const parsed = mapping ? labelled.safeParse(value, { reportInput: true }) : bare.safeParse(value, { reportInput: true });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom', path: [...issue.path] } as Parameters<typeof ctx.addIssue>[0]);
      return z.NEVER;
    }
    if (typeof parsed.data === 'object') return { ref: parsed.data.id, label: parsed.data.name ?? null };
    const ref = parsed.data;
    if (isGroupId(ref)) return { ref: ref.toLowerCase(), label: null };
    if (options.idsOnly) {
      ctx.addIssue({ code: 'custom', message: groupNameReason(ref), input: ref });
      return z.NEVER;
    }
    return { ref, label: null };
  });
  const list = z.array(entry, { error: (issue) => (issue.input === undefined ? `is required — ${hint}` : `must be a list — ${hint}`) });
  return options.nonEmpty ? list.min(1, { error: `must name at least one — ${hint}` }) : list;
}

/** The match keys of a list of references, as the policy holds them. */
export function refsOf(entries: readonly GroupRefEntry[]): string[] {
  return entries.map((entry) => entry.ref);
}

/** Labels by object id; two different labels for one id are a problem (one of them is wrong). */
export function collectLabels(lists: ReadonlyArray<{ path: ConfigPath; entries: readonly GroupRefEntry[] }>): {
  labels: Record<string, string>;
  problems: ConfigProblem[];
} {
  const labels: Record<string, string> = {};
  const problems: ConfigProblem[] = [];
  for (const { path, entries } of lists) {
    entries.forEach((entry, index) => {
      if (entry.label === null) return;
      const known = labels[entry.ref];
      if (known === undefined) labels[entry.ref] = entry.label;
      else if (known !== entry.label) {
        problems.push({
          path: [...path, index, 'name'],
          reason: `labels group ${entry.ref} differently from another reference ("${known}") — one label per group`,
          got: entry.label,
        });
      }
    });
  }
  return { labels, problems };
}

/** Every group reference of a config, with where it is written (for start-up checks and messages). */
export function groupRefsOf(config: {
  resources: ReadonlyArray<{
    name: string;
    requesters: readonly string[];
    approvers: readonly string[];
    autoApprove: readonly string[];
    credentials: ReadonlyArray<{ groups: readonly string[] }>;
    breakGlass?: { groups: readonly string[] } | undefined;
  }>;
  auditors: readonly string[];
  admins: readonly string[];
}): Array<{ where: string; ref: string }> {
  const refs: Array<{ where: string; ref: string }> = [];
  for (const resource of config.resources) {
    for (const key of ['requesters', 'approvers', 'autoApprove'] as const) {
      for (const [index, ref] of resource[key].entries()) refs.push({ where: `resources.${resource.name}.${key}[${index}]`, ref });
    }
    for (const [entry, credential] of resource.credentials.entries()) {
      for (const [index, ref] of credential.groups.entries()) refs.push({ where: `resources.${resource.name}.credentials[${entry}].groups[${index}]`, ref });
    }
    for (const [index, ref] of (resource.breakGlass?.groups ?? []).entries())
      refs.push({ where: `resources.${resource.name}.breakGlass.groups[${index}]`, ref });
  }
  for (const [index, ref] of config.auditors.entries()) refs.push({ where: `auditors[${index}]`, ref });
  for (const [index, ref] of config.admins.entries()) refs.push({ where: `admins[${index}]`, ref });
  return refs;
}

/** Whether the policy names any group by display name (possible under the dev tenant only). */
export function namesGroupsByDisplayName(config: Parameters<typeof groupRefsOf>[0]): boolean {
  return groupRefsOf(config).some(({ ref }) => !isGroupId(ref));
}
