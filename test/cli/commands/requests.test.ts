import { describe, expect, it } from 'vitest';
import { approvedView, harness, makeView } from './fakes.js';

describe('access requests', () => {
  it('lists my open requests by default', async () => {
    const h = harness({ routes: { 'GET /v1/requests?state=pending%2Capproved&limit=100': () => ({ requests: [makeView(), approvedView({ id: 'r2' })] }) } });
    expect(await h.run('requests')).toBe(0);
    const [header, first, second] = h.stdout().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['ID', 'RESOURCE', 'STATE', 'FOR', 'UNTIL/AGE', 'REASON']);
    expect(first).toMatch(/^r7f3c0a1b2 +prod-db +PENDING +1h +asked 2m ago, open until (?:tomorrow )?\d\d:\d\d +INC-4211: stuck migration$/);
    expect(second).toMatch(/^r2 +prod-db +APPROVED +1h +until (?:tomorrow )?\d\d:\d\d \(59m\) +INC-4211/);
  });

  it('includes closed requests with --all', async () => {
    const h = harness({ routes: { 'GET /v1/requests?limit=100': () => ({ requests: [] }) } });
    await h.run('requests', '--all', '--json');
    expect(h.log).toEqual(['connect', 'GET /v1/requests?limit=100']);
    expect(JSON.parse(h.stdout())).toEqual([]);
  });
});
