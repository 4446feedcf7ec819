// Workloads (service principals holding the broker API's `Access.Automation` app role) sign in with
// client credentials through MSAL's ConfidentialClientApplication (shared/app-token.ts): a
// certificate, a client secret from an environment variable, or a federated token file (workload
// identity federation: AKS, GitHub Actions). Named by flags or by the environment the Azure SDKs
// read (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_SECRET,
// AZURE_FEDERATED_TOKEN_FILE).
//
// What is remembered ($ACCESS_HOME/config.json) is where the credential is — the certificate's path,
// the variable's name, the token file's path — never a secret, a key or a token: every command
// reads the credential again and asks the tenant for a token, which MSAL keeps in memory only.

import path from 'node:path';
import { appTokenSource, type AppCredential, type AppTokenSource } from '../../shared/app-token.js';
import { readCertificateCredential } from '../../shared/certificate-credential.js';
import { AccessError } from '../../shared/errors.js';
import type { HttpTransport } from '../../shared/http-transport.js';
import type { BrokerConfigResponse } from '../../shared/wire.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** An environment variable's name as a shell writes it. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The Azure SDKs' environment for a service principal (EnvironmentCredential, WorkloadIdentityCredential). */
export const AZURE_ENV = {
  clientId: 'AZURE_CLIENT_ID',
  tenantId: 'AZURE_TENANT_ID',
  certificate: 'AZURE_CLIENT_CERTIFICATE_PATH',
  secret: 'AZURE_CLIENT_SECRET',
  federatedTokenFile: 'AZURE_FEDERATED_TOKEN_FILE',
} as const;

/** Where a workload's credential is: what `access login --service-principal` remembers. */
export type WorkloadCredentialRef = { kind: 'certificate'; file: string } | { kind: 'secret'; env: string } | { kind: 'federated'; tokenFile: string };

export interface WorkloadSettings {
  clientId: string;
  tenantId: string;
  credential: WorkloadCredentialRef;
}

export interface WorkloadFlags {
  clientId?: string | undefined;
  tenant?: string | undefined;
  certificate?: string | undefined;
  secretEnv?: string | undefined;
  federatedTokenFile?: string | undefined;
}

/**
 * The workload `access login --service-principal` names: each flag, else its Azure SDK variable.
 * The tenant defaults to the broker's. Exactly one credential. Paths are made absolute (`cwd`).
 */
export function workloadFromFlags(flags: WorkloadFlags, env: NodeJS.ProcessEnv, signIn: BrokerConfigResponse, cwd: string): WorkloadSettings {
  const clientId = flags.clientId ?? env[AZURE_ENV.clientId];
  if (!clientId) {
    throw new AccessError('usage', `name the workload's application (client) id: --client-id ID, or ${AZURE_ENV.clientId} as the Azure SDKs read it`);
  }
  if (!GUID.test(clientId)) throw new AccessError('usage', `--client-id ${JSON.stringify(clientId)} is not an application (client) id — expected a GUID`);
  const tenantId = flags.tenant ?? env[AZURE_ENV.tenantId] ?? signIn.tenantId;
  if (tenantId.toLowerCase() !== signIn.tenantId.toLowerCase()) {
    throw new AccessError(
      'usage',
      `the workload's tenant ${JSON.stringify(tenantId)} is not this broker's (${signIn.tenantId}): a workload signs in to the broker's own tenant`,
    );
  }
  return { clientId: clientId.toLowerCase(), tenantId: signIn.tenantId, credential: credentialRef(flags, env, cwd) };
}

function credentialRef(flags: WorkloadFlags, env: NodeJS.ProcessEnv, cwd: string): WorkloadCredentialRef {
  const named = [flags.certificate && '--certificate', flags.secretEnv && '--secret-env', flags.federatedTokenFile && '--federated-token-file'].filter(Boolean);
  if (named.length > 1) throw new AccessError('usage', `give one credential, not ${named.join(' and ')}`);
  if (flags.certificate) return { kind: 'certificate', file: path.resolve(cwd, flags.certificate) };
  if (flags.secretEnv) {
    if (!ENV_NAME.test(flags.secretEnv)) {
      throw new AccessError(
        'usage',
        `--secret-env takes the NAME of the environment variable holding the secret (e.g. ACCESS_CLIENT_SECRET), not the secret itself`,
      );
    }
    return { kind: 'secret', env: flags.secretEnv };
  }
  if (flags.federatedTokenFile) return { kind: 'federated', tokenFile: path.resolve(cwd, flags.federatedTokenFile) };
  // The Azure SDKs' order: a certificate, then a secret, then a federated token.
  const certificate = env[AZURE_ENV.certificate];
  if (certificate) return { kind: 'certificate', file: path.resolve(cwd, certificate) };
  if (env[AZURE_ENV.secret]) return { kind: 'secret', env: AZURE_ENV.secret };
  const tokenFile = env[AZURE_ENV.federatedTokenFile];
  if (tokenFile) return { kind: 'federated', tokenFile: path.resolve(cwd, tokenFile) };
  throw new AccessError(
    'usage',
    `name the workload's credential: --certificate FILE, --secret-env VAR or --federated-token-file FILE (or ${AZURE_ENV.certificate}, ${AZURE_ENV.secret} or ${AZURE_ENV.federatedTokenFile})`,
  );
}

/** Reads the credential where the settings say it is, now; a problem is the user's to fix. */
export function readWorkloadCredential(ref: WorkloadCredentialRef, env: NodeJS.ProcessEnv, now: number): AppCredential {
  switch (ref.kind) {
    case 'certificate': {
      const read = readCertificateCredential(ref.file, now);
      if ('problem' in read)
        throw new AccessError(
          'not_signed_in',
          `the workload's certificate: ${read.problem} — fix it, or sign in again with \`access login --service-principal\``,
        );
      return { kind: 'certificate', file: ref.file, ...read };
    }
    case 'secret': {
      const secret = env[ref.env];
      if (!secret) throw new AccessError('not_signed_in', `the workload's client secret is read from $${ref.env}, which is not set in this environment`);
      return { kind: 'secret', env: ref.env, secret };
    }
    case 'federated':
      return { kind: 'federated', tokenFile: ref.tokenFile };
  }
}

/** `api://…/.default`: the broker API's app role scope, from the delegated scope the broker names. */
export function workloadScope(signIn: BrokerConfigResponse): string {
  const delegated = signIn.scopes.find((scope) => scope.includes('/'));
  if (!delegated) throw new AccessError('broker_response_invalid', "the broker's /v1/config names no API scope a workload could ask a token for");
  return `${delegated.slice(0, delegated.lastIndexOf('/'))}/.default`;
}

/** A workload's session: a token per need, from the credential, never stored. */
export class WorkloadSession {
  readonly store = { kind: 'none', description: 'none: a workload asks the tenant with its credential; no token is written' } as const;
  readonly settings: WorkloadSettings;
  readonly #source: AppTokenSource;
  readonly #scope: string;

  constructor(
    settings: WorkloadSettings,
    signIn: BrokerConfigResponse,
    transport: HttpTransport,
    options: { env: NodeJS.ProcessEnv; now: number; customAuthority: boolean },
  ) {
    this.settings = settings;
    this.#scope = workloadScope(signIn);
    const credential = readWorkloadCredential(settings.credential, options.env, options.now);
    this.#source = appTokenSource(
      { clientId: settings.clientId, credential, authority: signIn.authority, customAuthority: options.customAuthority },
      transport,
      'sign_in_failed',
    );
  }

  accessToken(): Promise<string> {
    return this.#source(this.#scope);
  }
}
