// `credentials:` of a database resource: logins the broker holds, their passwords named (an
// environment variable or a file), never written, read at start, and never shown in a message,
// a log line or a serialized policy.

import { inspect } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig } from '../../../broker/config/load.js';
import { groupRefsOf } from '../../../broker/config/group-refs.js';
import { tempDir } from '../../helpers/processes.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;
const SECRET = 'correct horse battery staple';
const env = { PROD_DB_OWNER_PASSWORD: SECRET, PROD_DB_RO_PASSWORD: 'ro-secret', EMPTY: '' };

/** A postgres resource (lines 1-8) the cases extend with its credentials from line 9. */
const resource = (kind = 'postgres'): string[] => [
  'resources:', //                              1
  '  prod-db:', //                              2
  `    kind: ${kind}`, //                       3
  '    target: db.internal:5432', //            4
  '    requesters: [sg-eng, sg-leads]', //      5
  '    approvers: [sg-dba]', //                 6
  '    maxDuration: 4h', //                     7
  '    credentials:', //                        8
];

let dir: string;

beforeAll(async () => {
  dir = await tempDir('db-credentials-config');
  await mkdir(path.join(dir, 'secrets'));
  await writeFile(path.join(dir, 'secrets', 'owner'), `${SECRET}\n`);
  await writeFile(path.join(dir, 'secrets', 'empty'), '\n');
});

function refusal(text: string): string {
  try {
    parseConfig(text, 'config.yaml', env, { baseDir: dir });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
}

describe('credentials', () => {
  it('are none by default: the client logs in itself', () => {
    const lines = resource().slice(0, -1);
    expect(parseConfig(file(...lines), 'config.yaml', env).resources[0]?.credentials).toEqual([]);
  });

  it('reads a password from the environment and one from a file relative to the config, with their groups, in order', async () => {
    const configFile = path.join(dir, 'access.yaml');
    await writeFile(
      configFile,
      file(
        ...resource(),
        '      - user: app_owner',
        '        passwordFile: secrets/owner',
        '        groups: [sg-leads]',
        '      - user: app_readonly',
        '        passwordEnv: PROD_DB_RO_PASSWORD',
      ),
    );
    const [owner, readonly] = (await loadConfigFile(configFile, env)).resources[0]?.credentials ?? [];
    expect(owner).toMatchObject({ user: 'app_owner', source: path.join(dir, 'secrets', 'owner'), groups: ['sg-leads'] });
    // The file's trailing newline is not part of the password.
    expect(owner?.password).toBe(SECRET);
    expect(readonly).toMatchObject({ user: 'app_readonly', source: '$PROD_DB_RO_PASSWORD', groups: [] });
    expect(readonly?.password).toBe('ro-secret');
  });

  it('never shows the password when the policy is serialized, inspected or spread', () => {
    const policy = parseConfig(file(...resource(), '      - user: app_owner', '        passwordEnv: PROD_DB_OWNER_PASSWORD'), 'config.yaml', env).resources[0];
    const credential = policy?.credentials[0];
    expect(credential?.password).toBe(SECRET);
    expect(JSON.stringify(policy)).not.toContain(SECRET);
    expect(inspect(policy, { depth: 10 })).not.toContain(SECRET);
    expect(JSON.stringify({ ...credential })).not.toContain(SECRET);
  });

  it('refuses a password written in the config, without echoing it', () => {
    const message = refusal(file(...resource(), '      - user: app_owner', `        password: ${SECRET}`));
    expect(message).toContain('config.yaml:10 resources.prod-db.credentials[0].password: must not be written in the config');
    expect(message).toContain('passwordEnv');
    expect(message).not.toContain(SECRET);
  });

  it('refuses a password pasted where the variable name belongs, without echoing it', () => {
    const message = refusal(file(...resource(), '      - user: app_owner', `        passwordEnv: ${SECRET}`));
    expect(message).toContain('resources.prod-db.credentials[0].passwordEnv: must be the NAME of an environment variable');
    expect(message).not.toContain(SECRET);
  });

  it('stops the start on a variable that is not set or empty, naming it', () => {
    expect(refusal(file(...resource(), '      - user: app_owner', '        passwordEnv: NOT_SET_ANYWHERE'))).toContain(
      'config.yaml:10 resources.prod-db.credentials[0].passwordEnv: environment variable NOT_SET_ANYWHERE is not set — set it to the password of database user app_owner',
    );
    expect(refusal(file(...resource(), '      - user: app_owner', '        passwordEnv: EMPTY'))).toContain('environment variable EMPTY is empty');
  });

  it('stops the start on a password file that is missing or empty, naming it', () => {
    expect(refusal(file(...resource(), '      - user: app_owner', '        passwordFile: secrets/nope'))).toContain(
      `resources.prod-db.credentials[0].passwordFile: cannot read the password file ${path.join(dir, 'secrets', 'nope')}: no such file`,
    );
    expect(refusal(file(...resource(), '      - user: app_owner', '        passwordFile: secrets/empty'))).toContain(
      `the password file ${path.join(dir, 'secrets', 'empty')} is empty`,
    );
  });

  it('refuses an entry naming no password, or two', () => {
    expect(refusal(file(...resource(), '      - user: app_owner'))).toContain(
      'resources.prod-db.credentials[0]: names no password — give exactly one of passwordEnv',
    );
    expect(
      refusal(file(...resource(), '      - user: app_owner', '        passwordEnv: PROD_DB_OWNER_PASSWORD', '        passwordFile: secrets/owner')),
    ).toContain('names two passwords');
  });

  it('refuses an entry after one without groups: it could never be chosen', () => {
    expect(
      refusal(
        file(
          ...resource(),
          '      - user: app_readonly',
          '        passwordEnv: PROD_DB_RO_PASSWORD',
          '      - user: app_owner',
          '        passwordEnv: PROD_DB_OWNER_PASSWORD',
          '        groups: [sg-leads]',
        ),
      ),
    ).toContain('config.yaml:11 resources.prod-db.credentials[1]: can never be chosen: entry 0 before it has no groups');
  });

  it('belongs to postgres and mysql resources only', () => {
    expect(refusal(file(...resource('ssh'), '      - user: app_owner', '        passwordEnv: PROD_DB_OWNER_PASSWORD'))).toContain(
      'resources.prod-db.credentials: applies to postgres and mysql resources only, not kind ssh',
    );
    expect(
      parseConfig(file(...resource('mysql'), '      - user: app', '        passwordEnv: PROD_DB_RO_PASSWORD'), 'c.yaml', env).resources[0]?.credentials,
    ).toHaveLength(1);
  });

  it('takes groups like requesters: under serve, object ids only; under the dev tenant, declared names', () => {
    const message = (() => {
      try {
        parseConfig(
          file(
            ...resource().map((line) =>
              line.replace('[sg-eng, sg-leads]', '[2f6a1c4e-0b8d-4d6e-9c1a-5e7f3b2a9d10]').replace('[sg-dba]', '[2f6a1c4e-0b8d-4d6e-9c1a-5e7f3b2a9d11]'),
            ),
            '      - user: app_owner',
            '        passwordEnv: PROD_DB_OWNER_PASSWORD',
            '        groups: [sg-leads]',
          ),
          'config.yaml',
          env,
          { requireTenant: true, allowGroupNames: false },
        );
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    expect(message).toContain('resources.prod-db.credentials[0].groups[0]: is a group display name');
    const dev = file(
      ...resource(),
      '      - user: app_owner',
      '        passwordEnv: PROD_DB_OWNER_PASSWORD',
      '        groups: [sg-typo]',
      'devTenant:',
      '  groups: [{ name: sg-eng }, { name: sg-leads }, { name: sg-dba }]',
      '  users: [{ upn: a@contoso.dev, name: A, groups: [sg-eng] }]',
    );
    try {
      parseConfig(dev, 'config.yaml', env, { allowDevDirectory: true });
      throw new Error('accepted');
    } catch (error) {
      expect((error as Error).message).toContain('resources.prod-db.credentials[0].groups[0]');
    }
  });

  it('are among the group references checked against the tenant at start', () => {
    const config = parseConfig(
      file(
        ...resource(),
        '      - user: app_owner',
        '        passwordEnv: PROD_DB_OWNER_PASSWORD',
        '        groups: [{ id: 2f6a1c4e-0b8d-4d6e-9c1a-5e7f3b2a9d10, name: sg-leads }]',
      ),
      'config.yaml',
      env,
    );
    expect(groupRefsOf(config)).toContainEqual({ where: 'resources.prod-db.credentials[0].groups[0]', ref: '2f6a1c4e-0b8d-4d6e-9c1a-5e7f3b2a9d10' });
    expect(config.groupLabels).toMatchObject({ '2f6a1c4e-0b8d-4d6e-9c1a-5e7f3b2a9d10': 'sg-leads' });
  });
});
