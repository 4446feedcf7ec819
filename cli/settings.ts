// The CLI's remembered settings ($ACCESS_HOME/config.json): which broker to talk to, how to
// sign in to its tenant (learned from the broker's GET /v1/config at login) and which private CA
// issued its TLS certificate, if one did (`access login --ca FILE`).

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AccessError } from '../shared/errors.js';
import { isLoopbackHost } from '../shared/http-transport.js';
import type { BrokerConfigResponse } from '../shared/wire.js';
import type { WorkloadSettings } from './auth/workload.js';
import { ensurePrivateDir, writeFileAtomic } from './state-dir.js';

export interface CliSettings {
  broker?: string;
  signIn?: BrokerConfigResponse;
  /** Absolute path of the PEM CA certificate trusted for `broker` (cli/broker-trust.ts); ACCESS_CA_FILE overrides it. */
  caFile?: string;
  /** Absolute paths of the client certificate and key presented to `broker` (mutual TLS, `access login --cert --key`); ACCESS_CLIENT_CERT/KEY override them. */
  clientCertFile?: string;
  clientKeyFile?: string;
  /**
   * Set by `access login --service-principal`: the workload `broker` is used as, and where its
   * credential is (a path or a variable's name, never a secret). Absent: a person's sign-in.
   */
  workload?: WorkloadSettings;
}

export const SETTINGS_FILE = 'config.json';

export async function readSettings(home: string): Promise<CliSettings> {
  const file = path.join(home, SETTINGS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') return parsed as CliSettings;
  } catch {
    // fall through to the error below
  }
  throw new AccessError('config_invalid', `${file} is not valid JSON — fix it or delete it and run \`access login\` again`);
}

export async function writeSettings(home: string, settings: CliSettings): Promise<void> {
  await ensurePrivateDir(home);
  await writeFileAtomic(path.join(home, SETTINGS_FILE), `${JSON.stringify(settings, null, 2)}\n`);
}

/**
 * Normalizes a broker URL as typed (`broker.corp`, `https://broker.corp/`, `http://127.0.0.1:4780`)
 * or explains why not. A bare host means https. Plain http:// is accepted only on loopback (127/8,
 * ::1, localhost): anywhere else the bearer tokens the CLI sends would cross the network readable.
 */
export function normalizeBrokerUrl(input: string): string {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : `https://${input}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AccessError('usage', `"${input}" is not a broker URL — expected something like https://access.example.com or http://127.0.0.1:4780`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AccessError('usage', `broker URL "${input}" must start with https:// (or http:// on loopback)`);
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new AccessError(
      'usage',
      `broker URL "${input}" uses plain http:// to ${url.hostname}, which is not loopback: your sign-in tokens would cross the network unencrypted. ` +
        `Use https://${url.host}${url.pathname.replace(/\/+$/, '')} (http:// is only for a broker on this machine: 127.0.0.1, ::1, localhost)`,
    );
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** `--broker` beats `ACCESS_BROKER` beats the remembered broker. */
export function resolveBrokerUrl(flag: string | undefined, env: NodeJS.ProcessEnv, settings: CliSettings): string {
  const chosen = flag ?? env.ACCESS_BROKER ?? settings.broker;
  if (!chosen) {
    throw new AccessError('not_signed_in', 'no broker configured — run `access login --broker URL` (`access-broker dev` prints the URL), or set ACCESS_BROKER');
  }
  return normalizeBrokerUrl(chosen);
}
