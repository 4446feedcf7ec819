import { describe, expect, it } from 'vitest';
import type { ResourceSummary } from '../../../shared/wire.js';
import { harness } from './fakes.js';

const summary: ResourceSummary = {
  name: 'prod-db',
  kind: 'postgres',
  description: null,
  canRequest: false,
  canApprove: false,
  autoApproved: false,
  canBreakGlass: true,
  breakGlassMaxDurationMs: 3_600_000,
  extendMaxTotalMs: 8 * 3_600_000,
  approvers: ['sg-dba'],
  approvals: 1,
  maxDurationMs: 4 * 3_600_000,
  defaultDurationMs: 3_600_000,
  reason: 'required',
  ticketPattern: null,
  database: null,
  user: null,
  conditions: [],
};

describe('access resources', () => {
  it('says who may take a resource as break-glass, and how far grants may be extended', async () => {
    const h = harness({ routes: { 'GET /v1/resources': () => ({ resources: [summary] }) } });
    expect(await h.run('resources')).toBe(0);
    const row = h.stdout().split('\n')[1];
    expect(row?.split(/\s{2,}/)).toEqual([
      'prod-db',
      'postgres',
      'break-glass',
      '4h',
      '1 of sg-dba, default 1h, reason required, extend to 8h, break-glass 1h',
    ]);
  });
});
