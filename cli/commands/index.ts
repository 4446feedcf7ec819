// Every CLI command, in the order `access --help` lists them: what each is called, what it does
// and its options, cheap to build so help and parsing import nothing else. Each `load()` imports
// the command's handler (cli/commands/NAME.ts) only when that command runs.

import { afterSeqOption, jsonlOption, sinceOption, WHEN } from '../audit/options.js';
import { requestOptions } from '../request-options.js';
import {
  brokerOption,
  DEFAULT_BIND,
  jsonOption,
  type CommandGroupSpec,
  type CommandSpec,
  type OptionSpec,
  SESSIONS_SHOWN,
  SHOW_ENTRIES_DEFAULT,
} from './command.js';

const certOptions: OptionSpec[] = [
  {
    flags: '--cert <file>',
    description: 'PEM client certificate for a broker that requires mutual TLS (with --key); remembered for this broker (ACCESS_CLIENT_CERT overrides it)',
  },
  { flags: '--key <file>', description: 'the unencrypted PEM private key of --cert; remembered with it (ACCESS_CLIENT_KEY overrides it)' },
];

const caOption: OptionSpec = {
  flags: '--ca <file>',
  description: "PEM certificate of the private CA that issued the broker's TLS certificate; remembered for this broker (ACCESS_CA_FILE overrides it)",
};

export const loginCommand: CommandSpec = {
  name: 'login',
  summary: 'sign in with Microsoft Entra ID (device code, or the browser) and remember the broker',
  options: [
    brokerOption,
    caOption,
    ...certOptions,
    {
      flags: '--browser',
      description: 'sign in through your browser (authorization code + PKCE, redirect to this machine): for tenants that block device code',
    },
    { flags: '--device-code', description: 'sign in with a device code even when the tenant prefers the browser' },
    {
      flags: '--service-principal',
      description: 'sign in as a workload (a service principal with the Access.Automation app role) with client credentials, not as a person',
    },
    { flags: '--client-id <id>', description: `with --service-principal: the workload's application (client) id (default: $AZURE_CLIENT_ID)` },
    { flags: '--tenant <id>', description: "with --service-principal: the tenant id (default: $AZURE_TENANT_ID, else the broker's)" },
    {
      flags: '--certificate <file>',
      description: 'with --service-principal: PEM or PFX file with the certificate and key (default: $AZURE_CLIENT_CERTIFICATE_PATH)',
    },
    {
      flags: '--secret-env <var>',
      description: 'with --service-principal: the NAME of the environment variable holding the client secret (default: AZURE_CLIENT_SECRET when set)',
    },
    { flags: '--federated-token-file <file>', description: 'with --service-principal: a federated token file (default: $AZURE_FEDERATED_TOKEN_FILE)' },
  ],
  load: () => import('./login.js'),
};

export const logoutCommand: CommandSpec = {
  name: 'logout',
  summary: 'sign out: remove the cached tokens of this machine user ($ACCESS_HOME)',
  load: () => import('./logout.js'),
};

export const whoamiCommand: CommandSpec = {
  name: 'whoami',
  summary: 'show who you are signed in as, your groups and your token expiry',
  options: [brokerOption, jsonOption],
  load: () => import('./whoami.js'),
};

export const tokenCommand: CommandSpec = {
  name: 'token',
  summary: 'print your current access token for the broker, for curl or a script behind a forward-auth proxy',
  options: [brokerOption],
  load: () => import('./token.js'),
};

export const resourcesCommand: CommandSpec = {
  name: 'resources',
  summary: 'list the resources you may request or approve',
  options: [brokerOption, jsonOption],
  load: () => import('./resources.js'),
};

export const requestCommand: CommandSpec = {
  name: 'request',
  summary: 'ask for access to a resource and wait for the decision',
  args: '<name>',
  options: [
    ...requestOptions,
    {
      flags: '--break-glass',
      description: "emergency: granted at once to members of the resource's breakGlass groups (--reason required); every approver is told and post-reviews it",
    },
    { flags: '--no-wait', description: 'print the request id and state, and exit without waiting for the decision' },
    brokerOption,
    { flags: '--json', description: 'print the final request as JSON' },
  ],
  load: () => import('./request.js'),
};

export const requestsCommand: CommandSpec = {
  name: 'requests',
  summary: 'list your access requests (open ones; --all for closed ones too)',
  options: [{ flags: '--all', description: 'include closed requests (denied, cancelled, timed out, expired, revoked)' }, brokerOption, jsonOption],
  load: () => import('./requests.js'),
};

export const cancelCommand: CommandSpec = {
  name: 'cancel',
  summary: 'withdraw one of your pending requests',
  args: '<id>',
  options: [brokerOption, jsonOption],
  load: () => import('./cancel.js'),
};

export const revokeCommand: CommandSpec = {
  name: 'revoke',
  summary: 'end a granted access now (yours, or one you may approve)',
  args: '<id>',
  options: [{ flags: '--reason <text>', description: 'why, recorded in the audit log and shown to the requester' }, brokerOption, jsonOption],
  load: () => import('./revoke.js'),
};

export const extendCommand: CommandSpec = {
  name: 'extend',
  summary: 'ask for more time on a live grant of yours; open sessions keep running',
  args: '<id>',
  options: [
    { flags: '--for <duration>', description: 'how much longer, e.g. 30m, 1h (required)' },
    { flags: '--reason <text>', description: 'why you need more time (required when the policy requires reasons)' },
    { flags: '--no-wait', description: 'print where the extension stands and exit without waiting for the decision' },
    brokerOption,
    { flags: '--json', description: 'print the grant as JSON' },
  ],
  load: () => import('./extend.js'),
};

export const connectCommand: CommandSpec = {
  name: 'connect',
  summary: 'open the audited tunnel to a resource: listen on a local port, run `-- CMD` through it, or relay --stdio',
  args: '<name> [command...]',
  options: [
    { flags: '--port <port>', description: 'local port to listen on (default: a free port, printed)' },
    { flags: '--bind <address>', description: `local address to listen on (default: ${DEFAULT_BIND}; anyone who can reach it uses your access)` },
    { flags: '--stdio', description: "relay stdin/stdout instead of listening, e.g. ssh -o ProxyCommand='access connect %h --stdio'" },
    { flags: '--request', description: 'without a live grant, ask for one and connect once it is approved' },
    ...requestOptions.map((option) => ({ ...option, description: `with --request: ${option.description}` })),
    brokerOption,
  ],
  load: () => import('./connect.js'),
};

export const approvalsCommand: CommandSpec = {
  name: 'approvals',
  summary: 'list the requests waiting for your approval',
  options: [brokerOption, jsonOption],
  load: () => import('./approvals.js'),
};

export const approveCommand: CommandSpec = {
  name: 'approve',
  summary: 'approve a pending request',
  args: '<id>',
  options: [{ flags: '--comment <text>', description: 'a note for the requester and the audit log' }, brokerOption, jsonOption],
  load: () => import('./approve.js'),
};

export const denyCommand: CommandSpec = {
  name: 'deny',
  summary: 'deny a pending request (with a reason the requester reads)',
  args: '<id>',
  options: [{ flags: '--reason <text>', description: 'why (required; asked on a terminal)' }, brokerOption, jsonOption],
  load: () => import('./deny.js'),
};

export const reviewCommand: CommandSpec = {
  name: 'review',
  summary: 'go through what waits for you: break-glass grants to post-review, then requests to approve, deny or skip',
  args: '[id]',
  options: [
    { flags: '--verdict <verdict>', description: 'with ID: post-review that break-glass grant without questions — acceptable or not-acceptable' },
    { flags: '--comment <text>', description: 'with ID and --verdict: what you found (required)' },
    brokerOption,
  ],
  load: () => import('./review.js'),
};

export const watchCommand: CommandSpec = {
  name: 'watch',
  summary: 'follow new requests to review, decisions on yours and expiring grants, live',
  options: [brokerOption, { flags: '--json', description: 'print one JSON object per event and line' }],
  load: () => import('./watch.js'),
};

export const auditSessionsCommand: CommandSpec = {
  name: 'sessions',
  summary: 'tunnel sessions, newest first, filtered by user, resource and time',
  options: [
    { flags: '--user <upn-or-oid>', description: 'only sessions of this person (UPN in any case, or Entra object id)' },
    { flags: '--resource <name>', description: 'only sessions on this resource' },
    { flags: '--since <when>', description: `opened at or after: ${WHEN}` },
    { flags: '--until <when>', description: 'opened before this time (same forms as --since)' },
    { flags: '--limit <n>', description: `at most this many, newest first (default ${SESSIONS_SHOWN})` },
    { flags: '--break-glass', description: 'only sessions under break-glass grants, with their post-review' },
    brokerOption,
    jsonOption,
    { flags: '--csv', description: 'print CSV (RFC 4180) for a spreadsheet' },
  ],
  load: () => import('./audit/sessions.js'),
};

export const auditShowCommand: CommandSpec = {
  name: 'show',
  summary: 'the whole story of a request or a session: request, reviews, grant, each connection and query',
  args: '<id>',
  options: [{ flags: '--limit <n>', description: `at most this many entries (default ${SHOW_ENTRIES_DEFAULT})` }, brokerOption, jsonOption],
  load: () => import('./audit/show.js'),
};

export const auditEventsCommand: CommandSpec = {
  name: 'events',
  summary: 'the raw audit log in sequence order; --follow streams new entries as they are written',
  options: [
    sinceOption,
    afterSeqOption,
    { flags: '--follow', description: 'keep printing new entries until Ctrl-C (from now on, unless --since or --after-seq says where to start)' },
    jsonlOption,
    brokerOption,
  ],
  load: () => import('./audit/events.js'),
};

export const auditExportCommand: CommandSpec = {
  name: 'export',
  summary: 'the audit log as JSON Lines for a SIEM, resumable with --after-seq',
  options: [
    { flags: '--jsonl', description: 'JSON Lines: one entry per line, exactly as the API gives it (the default, and the only format)' },
    sinceOption,
    afterSeqOption,
    brokerOption,
  ],
  load: () => import('./audit/export.js'),
};

export const auditVerifyCommand: CommandSpec = {
  name: 'verify',
  summary: 'recompute the hash chain of the audit log and name the first entry that does not hold',
  options: [brokerOption, jsonOption],
  load: () => import('./audit/verify.js'),
};

/**
 * What auditors ask the audit log — members of the config's `auditors` groups only; everyone else
 * gets the broker's `not_an_auditor` (exit 3). Formatting lives in cli/audit/.
 */
const auditCommand: CommandGroupSpec = {
  name: 'audit',
  summary: 'read and verify the audit log (auditors only): sessions, show, events, export, verify',
  subcommands: [auditSessionsCommand, auditShowCommand, auditEventsCommand, auditExportCommand, auditVerifyCommand],
};

export const commands: readonly (CommandSpec | CommandGroupSpec)[] = [
  loginCommand,
  logoutCommand,
  whoamiCommand,
  tokenCommand,
  resourcesCommand,
  // Requesting access.
  requestCommand,
  requestsCommand,
  cancelCommand,
  revokeCommand,
  extendCommand,
  // Using access.
  connectCommand,
  // Approving.
  approvalsCommand,
  approveCommand,
  denyCommand,
  reviewCommand,
  watchCommand,
  // Auditing.
  auditCommand,
];
