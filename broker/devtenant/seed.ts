// The built-in directory of `access-broker dev`: one person per role the product knows, plus one
// with no groups and one with more groups than fit in a token (the overage case a real tenant
// produces above 200 groups).

import type { DevDirectory, DevGroup } from '../config/types.js';

/** How many `team-NNN` groups grace is in: enough to push her past the 200-group token limit. */
const SEED_TEAM_GROUPS = 250;

const teamNames = Array.from({ length: SEED_TEAM_GROUPS }, (_, i) => `team-${String(i + 1).padStart(3, '0')}`);

const groups: DevGroup[] = [
  { name: 'sg-eng', memberOf: [] },
  { name: 'sg-dba', memberOf: ['sg-eng'] },
  { name: 'sg-oncall', memberOf: ['sg-eng'] },
  { name: 'sg-audit', memberOf: [] },
  { name: 'sg-platform', memberOf: [] },
  ...teamNames.map((name) => ({ name, memberOf: [] })),
];

export const DEV_DIRECTORY: DevDirectory = {
  groups,
  users: [
    { upn: 'alice@contoso.dev', name: 'Alice Requester', groups: ['sg-eng'], mfa: true },
    { upn: 'bob@contoso.dev', name: 'Bob Approver', groups: ['sg-dba'], mfa: true },
    { upn: 'carol@contoso.dev', name: 'Carol Approver', groups: ['sg-dba'] },
    { upn: 'dave@contoso.dev', name: 'Dave Auditor', groups: ['sg-audit'] },
    { upn: 'erin@contoso.dev', name: 'Erin Admin', groups: ['sg-platform'] },
    { upn: 'frank@contoso.dev', name: 'Frank Nogroups', groups: [] },
    { upn: 'grace@contoso.dev', name: 'Grace Overage', groups: ['sg-oncall', ...teamNames] },
  ],
};
