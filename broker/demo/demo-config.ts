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

/** The environment variable the demo config names for the demo role's password (DEMO_APP_USER). */
export const DEMO_DB_PASSWORD_ENV = 'ACCESS_DEMO_DB_PASSWORD';

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
  demo-db-app:
    kind: postgres
    description: The same database as the password-protected role demo_app — the broker logs in for you, no password to type
    target: ${postgres}
    database: demo
    requesters: [sg-eng]
    approvers: [sg-dba]
    approvals: 1
    maxDuration: 4h
    defaultDuration: 1h
    reason: required
    # Credential injection: the broker logs in as demo_app (SCRAM-SHA-256) with a password only it
    # holds; people connect with none. access-broker dev sets a fresh one at every start.
    credentials:
      - user: demo_app
        passwordEnv: ${DEMO_DB_PASSWORD_ENV}
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

/** The demo resources pointing at the live demo targets; `appPassword` is the demo role's (DemoPostgres.app). */
export function demoConfig(targets: DemoTargets, appPassword: string): BrokerConfig {
  return parseConfig(demoConfigYaml(targets), DEMO_CONFIG_SOURCE, { [DEMO_DB_PASSWORD_ENV]: appPassword }, { allowDevDirectory: true });
}

/** Quoted so an IPv6 target's brackets read as text, not a YAML flow sequence. */
function yamlString(value: string): string {
  return JSON.stringify(value);
}
