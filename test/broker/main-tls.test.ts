// `access-broker dev|serve` TLS flags: --tls-cert and --tls-key come as a pair, refused before
// anything starts when one is missing.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../broker/main.js';
import { ExitCode } from '../../shared/errors.js';

afterEach(() => {
  vi.restoreAllMocks();
});

async function run(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const code = await main(['node', 'access-broker', ...args]);
  return { code, stderr };
}

describe('access-broker TLS flags', () => {
  it('refuses --tls-cert without --tls-key as a usage error', async () => {
    const result = await run(['dev', '--port', '0', '--tls-cert', 'broker.crt']);
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stderr).toContain('error: --tls-cert and --tls-key go together: got only --tls-cert "broker.crt" — pass both');
  });

  it('refuses --tls-key without --tls-cert on serve too', async () => {
    const result = await run(['serve', '--config', 'access.yaml', '--tls-key', 'broker.key']);
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stderr).toContain('got only --tls-key "broker.key"');
  });

  it('refuses --tls-ca without a certificate', async () => {
    const result = await run(['dev', '--port', '0', '--tls-ca', 'ca.crt']);
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stderr).toContain('--tls-ca "ca.crt" is the CA of a certificate: also pass --tls-cert FILE and --tls-key FILE');
  });
});
