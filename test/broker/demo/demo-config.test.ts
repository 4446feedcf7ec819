import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';
import { DEMO_CONFIG_SOURCE, DEMO_DB_PASSWORD_ENV, demoConfig, demoConfigYaml } from '../../../broker/demo/demo-config.js';
import { DEV_DIRECTORY } from '../../../broker/devtenant/seed.js';

const targets = { postgres: { host: '127.0.0.1', port: 54321 }, tcp: { host: '127.0.0.1', port: 7007 } };

describe('demoConfig', () => {
  it('declares demo-db, demo-db-critical, demo-db-app and demo-echo against the live targets', () => {
    const config = demoConfig(targets, 'fresh-demo-password');
    expect(config.source).toBe(DEMO_CONFIG_SOURCE);
    expect(config.tenant).toBeNull();
    expect(config.devDirectory).toBeNull();
    expect(config.auditors).toEqual(['sg-audit']);
    expect(config.admins).toEqual(['sg-platform']);
    const [db, critical, app, echo] = config.resources;
    expect(db).toEqual({
      name: 'demo-db',
      kind: 'postgres',
      description: expect.any(String),
      target: { host: '127.0.0.1', port: 54321 },
      requesters: ['sg-eng'],
      approvers: ['sg-dba'],
      approvals: 1,
      maxDurationMs: 4 * 3_600_000,
      defaultDurationMs: 3_600_000,
      requestTtlMs: 3_600_000,
      reason: 'required',
      ticketPattern: null,
      autoApprove: [],
      maxConnections: 20,
      idleTimeoutMs: 30 * 60_000,
      database: 'demo',
      user: 'demo',
      targetTls: 'disable',
      targetCa: null,
      workloads: [],
      autoApproveWorkloads: [],
      credentials: [],
      extend: { maxTotalMs: 8 * 3_600_000, autoApproveWithinMs: 3_600_000 },
      breakGlass: { groups: ['sg-oncall'], maxDurationMs: 3_600_000 },
    });
    expect(critical).toMatchObject({
      name: 'demo-db-critical',
      kind: 'postgres',
      target: { port: 54321 },
      database: 'demo',
      user: 'demo',
      approvals: 2,
      ticketPattern: '^(INC|CHG)-\\d+$',
    });
    expect(new RegExp(critical?.ticketPattern ?? '').test('INC-4211')).toBe(true);
    // Credential injection: the broker logs in as demo_app with the password the demo set at start.
    expect(app).toMatchObject({ name: 'demo-db-app', kind: 'postgres', database: 'demo', user: null });
    expect(app?.credentials).toEqual([{ user: 'demo_app', source: `$${DEMO_DB_PASSWORD_ENV}`, groups: [] }]);
    expect(app?.credentials[0]?.password).toBe('fresh-demo-password');
    expect(echo).toMatchObject({
      name: 'demo-echo',
      kind: 'tcp',
      target: { port: 7007 },
      requesters: ['sg-eng'],
      approvers: ['sg-dba'],
      autoApprove: ['sg-oncall'],
    });
  });

  it('names only groups the dev tenant seed has', () => {
    // Validated the way `dev --config` validates a team's file: every group must be declared.
    const withSeed = `${demoConfigYaml(targets)}devTenant:\n  groups: ${JSON.stringify(DEV_DIRECTORY.groups)}\n  users: ${JSON.stringify(DEV_DIRECTORY.users)}\n`;
    expect(() => parseConfig(withSeed, 'demo+seed', { [DEMO_DB_PASSWORD_ENV]: 'x' }, { allowDevDirectory: true })).not.toThrow();
  });

  it('writes an IPv6 target in brackets so it reads back the same', () => {
    const config = demoConfig({ postgres: { host: '::1', port: 5432 }, tcp: targets.tcp }, 'x');
    expect(config.resources[0]?.target).toEqual({ host: '::1', port: 5432 });
  });
});
