// Every CLI command, in the order `access --help` lists them.

import { approvalsCommand } from './approvals.js';
import { approveCommand } from './approve.js';
import { cancelCommand } from './cancel.js';
import { auditCommand } from './audit.js';
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
