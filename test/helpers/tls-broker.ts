// `access-broker dev` over HTTPS/WSS for end-to-end tests: a throwaway CA, a certificate for
// 127.0.0.1 it issued, and the broker started with `--tls-cert/--tls-key/--tls-ca`. Whoever signs
// in passes `loginOptions` to `login()` (`--ca` for the CLI, the CA for the sign-in page).

import { createTestCa, type TestCa } from './test-ca.js';
import { startDevBrokerProcess, tempDir, type DevBrokerProcess, type LoginOptions } from './processes.js';

export interface TlsDevBroker {
  broker: DevBrokerProcess;
  ca: TestCa;
  /** What `login()` needs to sign in to this broker: `--ca CA` and the CA for the sign-in page. */
  loginOptions: LoginOptions;
}

/** Starts the dev broker with TLS; `args` and `env` as for startDevBrokerProcess (e.g. `--config`). */
export async function startTlsDevBrokerProcess(args: string[] = [], env: Record<string, string> = {}): Promise<TlsDevBroker> {
  const ca = await createTestCa(await tempDir('tls-ca'));
  const server = await ca.issue('broker', { dns: ['localhost'], ips: ['127.0.0.1'] });
  const broker = await startDevBrokerProcess(args, env, { tls: { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.certFile } });
  return { broker, ca, loginOptions: { args: ['--ca', ca.certFile], pageCa: [ca.cert] } };
}
