// The config's `tls.clientCa` (mutual TLS at the broker; README, "Mutual TLS"): read and checked at
// load, and refused at start when the broker does not serve TLS to ask certificates over.

import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';
import { clientCaOf } from '../../../broker/http/tls.js';
import { AccessError } from '../../../shared/errors.js';
import { createTestCa } from '../../helpers/test-ca.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;
const RESOURCE = [
  'resources:',
  '  web:',
  '    kind: tcp',
  '    target: 127.0.0.1:8080',
  '    requesters: [sg-eng]',
  '    approvers: [sg-dba]',
  '    maxDuration: 4h',
];

function problem(text: string): string {
  try {
    parseConfig(text, 'config.yaml', {});
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error('expected the config to be refused');
}

describe('tls.clientCa', () => {
  it('reads the CA file named', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'access-clientca-'));
    const ca = await createTestCa(dir, 'clients');
    const config = parseConfig(file(...RESOURCE, 'tls:', `  clientCa: ${ca.certFile}`), 'config.yaml', {});
    expect(config.tls?.clientCa).toEqual({ file: ca.certFile, pem: ca.cert });
  });

  it('refuses a missing file, a file without a certificate, and an unknown key, naming tls.clientCa', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'access-clientca-'));
    const notPem = path.join(dir, 'key.pem');
    await writeFile(notPem, 'not a certificate');
    expect(problem(file(...RESOURCE, 'tls:', '  clientCa: /nonexistent/clients.pem'))).toMatch(
      /tls\.clientCa: cannot read \/nonexistent\/clients\.pem: no such file/,
    );
    expect(problem(file(...RESOURCE, 'tls:', `  clientCa: ${notPem}`))).toContain('holds no PEM certificate');
    expect(problem(file(...RESOURCE, 'tls:', '  cert: broker.pem'))).toContain('tls.cert');
  });

  it('is refused at start when the broker serves plain HTTP: certificates are asked for in the TLS handshake', () => {
    const config = { tls: { clientCa: { pem: 'PEM' } } };
    expect(() => clientCaOf(config, null)).toThrow(AccessError);
    expect(() => clientCaOf(config, null)).toThrow(/--tls-cert FILE and --tls-key FILE/);
    expect(clientCaOf(null, null)).toBeNull();
  });
});
