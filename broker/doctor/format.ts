// The one way doctor's results are printed: a line per check, ✔ passed, ✖ failed with the problem
// and the fix, ? could not be checked, then a summary. Text from the tenant (display names, error
// messages) has its control characters made visible.

import { safeText } from '../../shared/safe-text.js';
import type { CheckResult } from './checks.js';

const MARKS = { pass: '✔', fail: '✖', unknown: '?' } as const;

export function formatResults(results: readonly CheckResult[]): string[] {
  const lines = results.map((r) => {
    const parts = [`${MARKS[r.status]} ${r.title}`];
    if (r.problem) parts.push(`: ${r.problem}`);
    if (r.fix) parts.push(` — fix: ${r.fix}`);
    return safeText(parts.join(''));
  });
  const count = (status: CheckResult['status']): number => results.filter((r) => r.status === status).length;
  const unknown = count('unknown');
  lines.push(`${count('pass')} passed, ${count('fail')} failed${unknown ? `, ${unknown} could not be checked` : ''}`);
  return lines;
}
