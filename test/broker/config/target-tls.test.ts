// `targetTls` and `targetCa` in the config: TLS from the broker to a postgres database, off by
// default; the CA file is read at load (relative to the config file) and refused precisely.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig } from '../../../broker/config/load.js';
import { tempDir } from '../../helpers/processes.js';
import { createTestCa, type TestCa } from '../../helpers/test-ca.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;

/** A resource (lines 1-7) the cases extend. */
const resource = (kind: string): string[] => [
  'resources:', //                   1
  '  db:', //                        2
  `    kind: ${kind}`, //            3
  '    target: db.internal:5432', // 4
  '    requesters: [sg-eng]', //     5
  '    approvers: [sg-dba]', //      6
  '    maxDuration: 4h', //          7
];

let dir: string;
let ca: TestCa;

beforeAll(async () => {
  dir = await tempDir('target-tls-config');
  await mkdir(path.join(dir, 'certs'));
  ca = await createTestCa(path.join(dir, 'certs'), 'orders-ca');
  await writeFile(path.join(dir, 'certs', 'not-a-cert.pem'), 'hello\n');
});

function refusal(text: string): string {
  try {
    parseConfig(text, 'config.yaml', {}, { baseDir: dir });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
}

describe('targetTls', () => {
  it('is off by default, with no CA', () => {
    expect(parseConfig(file(...resource('postgres')), 'config.yaml', {}).resources[0]).toMatchObject({ targetTls: 'disable', targetCa: null });
  });

  it('reads require and verify-full', () => {
    expect(parseConfig(file(...resource('postgres'), '    targetTls: require'), 'config.yaml', {}).resources[0]?.targetTls).toBe('require');
    expect(parseConfig(file(...resource('postgres'), '    targetTls: verify-full'), 'config.yaml', {}).resources[0]).toMatchObject({
      targetTls: 'verify-full',
      targetCa: null,
    });
  });

  it('reads targetCa relative to the config file, at load', async () => {
    const configFile = path.join(dir, 'access.yaml');
    await writeFile(configFile, file(...resource('postgres'), '    targetTls: verify-full', '    targetCa: certs/orders-ca.crt'));
    const config = await loadConfigFile(configFile, {});
    expect(config.resources[0]?.targetCa).toEqual({ file: ca.certFile, pem: ca.cert });
  });

  it.each([
    [
      'an unknown mode',
      file(...resource('postgres'), '    targetTls: verify-ca'),
      'config.yaml:8 resources.db.targetTls: must be one of disable, require, verify-full (got "verify-ca")',
    ],
    [
      'TLS on a kind whose protocol the broker does not speak',
      file(...resource('mysql'), '    targetTls: require'),
      'config.yaml:8 resources.db.targetTls: applies to postgres resources only, not kind mysql — remove it (got "require")',
    ],
    [
      'a CA without verify-full',
      file(...resource('postgres'), '    targetTls: require', '    targetCa: certs/orders-ca.crt'),
      'config.yaml:9 resources.db.targetCa: is only read with targetTls: verify-full (this resource has require) — set targetTls: verify-full or remove targetCa',
    ],
  ])('refuses %s', (_name, text, line) => {
    expect(refusal(text)).toContain(line);
  });

  it('refuses a CA file that does not exist, naming the path it looked at', () => {
    const message = refusal(file(...resource('postgres'), '    targetTls: verify-full', '    targetCa: certs/missing.crt'));
    expect(message).toContain(`config.yaml:9 resources.db.targetCa: cannot read ${path.join(dir, 'certs/missing.crt')}: no such file`);
  });

  it('refuses a CA file that holds no certificate', () => {
    const message = refusal(file(...resource('postgres'), '    targetTls: verify-full', '    targetCa: certs/not-a-cert.pem'));
    expect(message).toContain(`${path.join(dir, 'certs/not-a-cert.pem')} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  });
});
