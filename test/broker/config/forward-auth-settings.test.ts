// The config's forward-auth and workload settings: `forwardAuth.auditWindow`, and a resource's
// `workloads` and `autoApproveWorkloads` (README, "Forward-auth" and "Workloads").

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';
import { DEFAULT_FORWARD_AUTH_AUDIT_WINDOW_MS } from '../../../broker/config/schema.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;
const RESOURCE = [
  'resources:',
  '  web:',
  '    kind: tcp',
  '    target: grafana.internal:3000',
  '    requesters: [sg-eng]',
  '    approvers: [sg-dba]',
  '    maxDuration: 4h',
];
const ROBOT = '2F6A1C4E-0B8D-4D6E-9C1A-5E7F3B2A9D10';
const OTHER = '1b8f4a2c-7d3e-4f5a-9b6c-0d1e2f3a4b5c';

function problem(text: string): string {
  try {
    parseConfig(text, 'config.yaml', {});
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error('expected the config to be refused');
}

describe('forward-auth and workload settings', () => {
  it('defaults: a one-minute audit window and no workloads', () => {
    const config = parseConfig(file(...RESOURCE), 'config.yaml', {});
    expect(config.forwardAuth).toEqual({ auditWindowMs: DEFAULT_FORWARD_AUTH_AUDIT_WINDOW_MS });
    expect(config.resources[0]).toMatchObject({ workloads: [], autoApproveWorkloads: [] });
  });

  it('reads the audit window and the workloads, client ids in lower case', () => {
    const config = parseConfig(
      file(...RESOURCE, `    workloads: [${ROBOT}]`, `    autoApproveWorkloads: [${ROBOT}]`, 'forwardAuth:', '  auditWindow: 10s'),
      'config.yaml',
      {},
    );
    expect(config.forwardAuth).toEqual({ auditWindowMs: 10_000 });
    expect(config.resources[0]).toMatchObject({ workloads: [ROBOT.toLowerCase()], autoApproveWorkloads: [ROBOT.toLowerCase()] });
  });

  it.each([
    ['a workload that is not a client id', ['    workloads: [nightly-export]'], 'resources.web.workloads[0]: must be a GUID'],
    [
      'an auto-approved workload missing from workloads',
      [`    workloads: [${OTHER}]`, `    autoApproveWorkloads: [${ROBOT}]`],
      "is not in this resource's workloads",
    ],
    ['an audit window over an hour', ['forwardAuth:', '  auditWindow: 2h'], 'forwardAuth.auditWindow'],
    ['an unknown forwardAuth key', ['forwardAuth:', '  cacheSeconds: 30'], 'forwardAuth.cacheSeconds'],
  ])('refuses %s, naming the key', (_, lines, message) => {
    expect(problem(file(...RESOURCE, ...lines))).toContain(message);
  });
});
