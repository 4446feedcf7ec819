// The PostgreSQL store's address, as `store:` in the config or ACCESS_DATABASE_URL gives it. Both
// are checked here, the same way; a message never quotes the URL, which may carry a password.

import { z } from 'zod';

/** The environment variable that names the PostgreSQL store; it wins over the config's `store:`. */
export const DATABASE_URL_ENV = 'ACCESS_DATABASE_URL';

const SCHEMES = ['postgres:', 'postgresql:'];

export const STORE_URL_EXAMPLE = 'postgres://access@db.internal:5432/access';

/** Why `value` cannot be the store's URL, or null when it can. */
export function storeUrlProblem(value: string): string | null {
  const url = URL.canParse(value) ? new URL(value) : null;
  if (!url) return `is not a URL — write the PostgreSQL store as ${STORE_URL_EXAMPLE}`;
  if (!SCHEMES.includes(url.protocol)) {
    return `is a ${url.protocol}// URL — the store is PostgreSQL: write postgres://USER@HOST:5432/DATABASE (leave it out for SQLite in the data directory)`;
  }
  // A socket directory can stand in for the host: postgres:///access?host=/var/run/postgresql
  if (!url.hostname && !url.searchParams.has('host')) return `names no host — write ${STORE_URL_EXAMPLE}`;
  // node-postgres would otherwise pick the database named like the user: say which one.
  if (url.pathname.length <= 1) return `names no database — add it after the host, as in ${STORE_URL_EXAMPLE}`;
  return null;
}

/** `store:` — the PostgreSQL URL, checked; the value is never echoed in a problem (it may hold a password). */
export function storeUrl() {
  return z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? `is required — a PostgreSQL URL such as ${STORE_URL_EXAMPLE}`
          : `must be a PostgreSQL URL such as ${STORE_URL_EXAMPLE} — leave \`store\` out for SQLite in the data directory`,
    })
    .trim()
    .superRefine((value, ctx) => {
      const problem = storeUrlProblem(value);
      // `input: undefined`: zod would quote the value, password and all.
      if (problem) ctx.addIssue({ code: 'custom', message: problem, input: undefined });
    });
}
