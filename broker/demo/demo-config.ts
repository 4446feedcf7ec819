// The built-in demo policy of `access-broker dev`: written in the same YAML a team writes and read
// by the same parser, so the demo exercises exactly the production path (and `demoConfigYaml` is a
// starting point a team can copy). Group names match the dev tenant's seed (devtenant/seed.ts).

import { parseConfig } from '../config/load.js';
import { formatTarget, type Target } from '../config/target.js';
import type { BrokerConfig } from '../config/types.js';

export const DEMO_CONFIG_SOURCE = '(built-in demo)';

export interface DemoTargets {
  postgres: Target;
  tcp: Target;
}

export function demoConfigYaml(targets: DemoTargets): string {
  const postgres = yamlString(formatTarget(targets.postgres));
  const tcp = yamlString(formatTarget(targets.tcp));
  return `# The built-in demo of access-broker dev. The dev tenant's seed users: alice (sg-eng) requests,
# bob and carol (sg-dba) approve, dave (sg-audit) audits, erin (sg-platform) administers, grace
# (sg-oncall) may take demo-db as break-glass.
resources:
  demo-db:
    kind: postgres
    description: Demo PostgreSQL with an orders table — access connect demo-db -- psql
    target: ${postgres}
    database: demo
    user: demo
    requesters: [sg-eng]
    approvers: [sg-dba]
    approvals: 1
    maxDuration: 4h
    defaultDuration: 1h
    reason: required
    # access extend ID --for 30m: up to 1h more by policy, beyond that an approver decides.
    extend: { maxTotal: 8h, approval: { none-within: 1h } }
    # access request demo-db --break-glass --reason …: sg-oncall (grace) gets in at once; bob post-reviews.
    breakGlass: { groups: [sg-oncall], maxDuration: 1h }
  demo-db-critical:
    kind: postgres
    description: The same database under a stricter policy — two approvals and a ticket
    target: ${postgres}
    database: demo
    user: demo
    requesters: [sg-eng]
    approvers: [sg-dba]
    approvals: 2
    maxDuration: 1h
    defaultDuration: 30m
    reason: required
    ticketPattern: '^(INC|CHG)-\\d+$'
  demo-echo:
    kind: tcp
    description: Line echo service — try nc through access connect
    target: ${tcp}
    requesters: [sg-eng]
    approvers: [sg-dba]
    maxDuration: 8h
    defaultDuration: 1h
    autoApprove: [sg-oncall]
auditors: [sg-audit]
admins: [sg-platform]
`;
}

/** The demo resources pointing at the live demo targets. */
export function demoConfig(targets: DemoTargets): BrokerConfig {
  return parseConfig(demoConfigYaml(targets), DEMO_CONFIG_SOURCE, {}, { allowDevDirectory: true });
}

/** Quoted so an IPv6 target's brackets read as text, not a YAML flow sequence. */
function yamlString(value: string): string {
  return JSON.stringify(value);
}
