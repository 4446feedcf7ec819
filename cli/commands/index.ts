// Every CLI command, in the order `access --help` lists them.

import { approvalsCommand } from './approvals.js';
import { approveCommand } from './approve.js';
import { auditEventsCommand } from './audit/events.js';
import { auditExportCommand } from './audit/export.js';
import { auditSessionsCommand } from './audit/sessions.js';
import { auditShowCommand } from './audit/show.js';
import { auditVerifyCommand } from './audit/verify.js';
import { cancelCommand } from './cancel.js';
import type { CommandGroupSpec, CommandSpec } from './command.js';
import { connectCommand } from './connect.js';
import { denyCommand } from './deny.js';
import { loginCommand } from './login.js';
import { logoutCommand } from './logout.js';
import { requestCommand } from './request.js';
import { requestsCommand } from './requests.js';
import { resourcesCommand } from './resources.js';
import { reviewCommand } from './review.js';
import { revokeCommand } from './revoke.js';
import { watchCommand } from './watch.js';
import { whoamiCommand } from './whoami.js';

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
  resourcesCommand,
  // Requesting access.
  requestCommand,
  requestsCommand,
  cancelCommand,
  revokeCommand,
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
