// The client certificate the CLI presents to a broker that requires mutual TLS (its config's
// `tls.clientCa`), besides the Entra token: `access login --cert FILE --key FILE` (remembered in
// config.json for that broker, as `--ca` is), or ACCESS_CLIENT_CERT and ACCESS_CLIENT_KEY for one
// run. Both files are read and checked to be a pair before anything connects. The certificate is
// presented to the broker's origin only, never to Microsoft's sign-in hosts.

import { createPrivateKey } from 'node:crypto';
import path from 'node:path';
import { AccessError } from '../shared/errors.js';
import { readCertificates, readPemFile, type PemFileRole } from '../shared/tls.js';
import type { CliSettings } from './settings.js';

/** Where the certificate came from: flags, the environment, or remembered at login. */
export type ClientCertificateSource = 'flag' | 'env' | 'remembered';

export interface ClientCertificate {
  certFile: string;
  keyFile: string;
  /** The PEM chain, the client's certificate first. */
  cert: string;
  key: string;
  source: ClientCertificateSource;
}

const WORDS: Record<ClientCertificateSource, { cert: string; key: string; hint?: string }> = {
  flag: { cert: 'the --cert file', key: 'the --key file' },
  env: { cert: 'the ACCESS_CLIENT_CERT file', key: 'the ACCESS_CLIENT_KEY file', hint: 'check the path, or unset ACCESS_CLIENT_CERT and ACCESS_CLIENT_KEY' },
  remembered: {
    cert: 'the client certificate remembered at login',
    key: 'the client key remembered at login',
    hint: 'run `access login --cert FILE --key FILE` again with their current paths',
  },
};

/** `--cert/--key` beat ACCESS_CLIENT_CERT/ACCESS_CLIENT_KEY beat the pair remembered for this broker; each pair comes whole. */
export async function resolveClientCertificate(options: {
  certFlag?: string | undefined;
  keyFlag?: string | undefined;
  env: NodeJS.ProcessEnv;
  settings: CliSettings;
  brokerUrl: string;
}): Promise<ClientCertificate | null> {
  const { certFlag, keyFlag, env, settings, brokerUrl } = options;
  if (certFlag || keyFlag) return read(pair(certFlag, keyFlag, '--cert', '--key'), 'flag');
  if (env.ACCESS_CLIENT_CERT || env.ACCESS_CLIENT_KEY)
    return read(pair(env.ACCESS_CLIENT_CERT, env.ACCESS_CLIENT_KEY, 'ACCESS_CLIENT_CERT', 'ACCESS_CLIENT_KEY'), 'env');
  if (settings.broker === brokerUrl && settings.clientCertFile && settings.clientKeyFile) {
    return read({ certFile: settings.clientCertFile, keyFile: settings.clientKeyFile }, 'remembered');
  }
  return null;
}

/** What `access login` remembers: a pair given with flags, else the pair already remembered for this broker (the environment's is never written). */
export function clientCertificateToRemember(
  given: ClientCertificate | null,
  settings: CliSettings,
  brokerUrl: string,
): Pick<CliSettings, 'clientCertFile' | 'clientKeyFile'> {
  if (given?.source === 'flag') return { clientCertFile: given.certFile, clientKeyFile: given.keyFile };
  if (settings.broker === brokerUrl && settings.clientCertFile && settings.clientKeyFile) {
    return { clientCertFile: settings.clientCertFile, clientKeyFile: settings.clientKeyFile };
  }
  return {};
}

function pair(cert: string | undefined, key: string | undefined, certName: string, keyName: string): { certFile: string; keyFile: string } {
  if (!cert || !key) {
    throw new AccessError('usage', `${certName} and ${keyName} go together: got only ${cert ? certName : keyName} — give the certificate and its private key`);
  }
  return { certFile: path.resolve(cert), keyFile: path.resolve(key) };
}

async function read(files: { certFile: string; keyFile: string }, source: ClientCertificateSource): Promise<ClientCertificate> {
  const words = WORDS[source];
  const code = source === 'remembered' ? 'config_invalid' : 'usage';
  const certRole: PemFileRole = { what: words.cert, code, ...(words.hint ? { hint: words.hint } : {}) };
  const keyRole: PemFileRole = { what: words.key, code, ...(words.hint ? { hint: words.hint } : {}) };
  const chain = await readCertificates(files.certFile, certRole);
  const key = await readPemFile(files.keyFile, keyRole);
  const leaf = chain[0];
  let matches = false;
  try {
    matches = leaf?.x509.checkPrivateKey(createPrivateKey(key)) ?? false;
  } catch {
    throw new AccessError(
      code,
      `${words.key} "${files.keyFile}" holds no unencrypted PEM private key — give the key of the certificate in "${files.certFile}"`,
    );
  }
  if (!matches) {
    throw new AccessError(
      code,
      `${words.key} "${files.keyFile}" is not the private key of the certificate in "${files.certFile}" — give the pair that belongs together`,
    );
  }
  return { ...files, cert: chain.map((c) => c.pem).join('\n'), key, source };
}
