// The one way a request becomes a grant, shared by approval by people (state-machine.ts) and by
// policy (autoApprove in policy.ts), so both start the access clock the same way.

import type { AccessRequest } from './types.js';

/** Approves `request` at `at`: the access clock starts now, not when the request was made. */
export function grantAccess(request: AccessRequest, at: number, autoApproved: boolean): AccessRequest {
  return {
    ...request,
    state: 'approved',
    grantedAt: at,
    expiresAt: at + request.durationMs,
    autoApproved,
  };
}
