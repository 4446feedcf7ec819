// A deadline on one whole membership read (token, every page, any retry Graph asked for). Each
// HTTP call already has the transport's timeout, but a read is several calls, and the CLI gives
// the broker DEFAULT_HTTP_TIMEOUT_MS (15 s) per call: a hung Graph must end as a clear
// `directory_unavailable` from the broker before the person's CLI gives up on the broker itself.

import { AccessError } from '../../shared/errors.js';
import type { GroupRef } from '../../shared/wire.js';
import type { Directory } from './directory.js';

/**
 * Longest a membership read may take before the broker fails closed. Below the CLI's 15 s per-call
 * timeout with room for the rest of the request; far above a healthy Graph read (tens of ms).
 */
export const DIRECTORY_READ_DEADLINE_MS = 8_000;

export class DeadlineDirectory implements Directory {
  readonly #inner: Directory;
  readonly #deadlineMs: number;

  constructor(inner: Directory, deadlineMs = DIRECTORY_READ_DEADLINE_MS) {
    this.#inner = inner;
    this.#deadlineMs = deadlineMs;
  }

  memberGroups(oid: string): Promise<GroupRef[]> {
    return new Promise<GroupRef[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new AccessError(
            'directory_unavailable',
            `Microsoft Graph did not answer a membership read for user ${oid} within ${this.#deadlineMs / 1000}s; access checks fail closed until Graph answers — try again shortly`,
          ),
        );
      }, this.#deadlineMs);
      // The late answer, if any, is dropped: the next read asks again.
      this.#inner
        .memberGroups(oid)
        .then(resolve, reject)
        .finally(() => clearTimeout(timer));
    });
  }
}
