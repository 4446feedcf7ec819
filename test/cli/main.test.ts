import { describe, expect, it } from 'vitest';
import { describeFailure } from '../../cli/main.js';
import { AccessError, type ErrorCode } from '../../shared/errors.js';

describe('describeFailure', () => {
  // Each row: a refusal the request/approval commands meet, and the exit code scripts rely on.
  const rows: [ErrorCode, number][] = [
    ['reason_required', 2],
    ['ticket_invalid', 2],
    ['duration_too_long', 2],
    ['unknown_resource', 2],
    ['usage', 2],
    ['not_a_requester', 3],
    ['not_an_approver', 3],
    ['self_review', 3],
    ['not_allowed_to_revoke', 3],
    ['request_not_pending', 1],
    ['already_reviewed', 1],
    ['request_not_found', 1],
    ['not_signed_in', 4],
    ['interrupted', 130],
  ];

  it.each(rows)('maps %s to exit %i and prints the message without a stack', (code, exit) => {
    const failure = describeFailure(new AccessError(code, `refused: ${code}`), false);
    expect(failure).toEqual({ message: `error: refused: ${code}`, exit });
  });
});
