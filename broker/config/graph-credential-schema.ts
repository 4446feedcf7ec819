// `tenant.graph` in the config file: which app reads Microsoft Graph and how it proves it is that
// app. One mapping per credential kind, every combination that cannot work refused at start:
//
//   graph: { clientId: …, credential: { kind: secret, env: ACCESS_GRAPH_SECRET } }
//   graph: { clientId: …, credential: { kind: certificate, file: /etc/access/graph-app.pem } }
//   graph: { clientId: …, credential: { kind: certificate, file: graph-app.pfx, passwordEnv: ACCESS_GRAPH_CERT_PASSWORD } }
//   graph: { clientId: …, credential: { kind: federated, tokenFile: … } }    # default $AZURE_FEDERATED_TOKEN_FILE
//   graph: { credential: { kind: managedIdentity, clientId: … } }            # clientId only for a user-assigned identity
//
// `clientSecretEnv: NAME` (the first form this file had) still means `credential: { kind: secret, env: NAME }`.

import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readCertificateCredential } from '../../shared/certificate-credential.js';
import { choice, ENV_NAME, guid, secretFromEnv, strictMapping, text } from './fields.js';
import type { GraphCredential, TenantConfig } from './types.js';

export const GRAPH_CREDENTIAL_KINDS = ['secret', 'certificate', 'federated', 'managedIdentity'] as const satisfies readonly GraphCredential['kind'][];
/** Where AKS workload identity (and azure-identity libraries) name the federated token file. */
export const FEDERATED_TOKEN_FILE_ENV = 'AZURE_FEDERATED_TOKEN_FILE';

/** The keys each kind takes besides `kind` (every other key is a bad combination). */
const KEYS_OF_KIND: Record<GraphCredential['kind'], readonly string[]> = {
  secret: ['env'],
  certificate: ['file', 'passwordEnv'],
  federated: ['tokenFile'],
  managedIdentity: ['clientId'],
};

export interface GraphSchemaOptions {
  env: NodeJS.ProcessEnv;
  /** Where relative `file`/`tokenFile` paths start: the config file's directory. */
  baseDir: string;
  /** Clock for the certificate's expiry check. */
  now: () => number;
}

export function graphSchema(options: GraphSchemaOptions, defaultBaseUrl: string) {
  const credential = strictMapping(
    {
      kind: choice(GRAPH_CREDENTIAL_KINDS, 'how the broker proves it is the Graph app'),
      env: text('the NAME of the environment variable holding the client secret, e.g. ACCESS_GRAPH_SECRET').optional(),
      file: text("the PEM or PFX file with the app's certificate and private key").optional(),
      passwordEnv: text("the NAME of the environment variable holding the PFX file's password, e.g. ACCESS_GRAPH_CERT_PASSWORD").optional(),
      tokenFile: text(`the file holding the federated token (default: $${FEDERATED_TOKEN_FILE_ENV})`).optional(),
      clientId: guid('the client id of a user-assigned managed identity (omit for the system-assigned one)').optional(),
    },
    'a credential: { kind: secret, env } | { kind: certificate, file, passwordEnv? } | { kind: federated, tokenFile } | { kind: managedIdentity, clientId? }',
  );
  return strictMapping(
    {
      clientId: guid('the application (client) id of the app the broker reads Microsoft Graph with').optional(),
      credential: credential.optional(),
      clientSecretEnv: text("the environment variable holding that app's client secret, e.g. ACCESS_GRAPH_CLIENT_SECRET").optional(),
      baseUrl: httpsBaseUrl('Microsoft Graph, e.g. https://graph.microsoft.com').default(defaultBaseUrl),
    },
    'the app registration the broker reads group membership with (clientId and credential)',
  ).transform((raw, ctx): TenantConfig['graph'] | typeof z.NEVER => {
    const problem = (at: (string | number)[], message: string, input?: unknown): typeof z.NEVER => {
      ctx.addIssue({ code: 'custom', path: at, message, ...(input === undefined ? {} : { input }) });
      return z.NEVER;
    };
    if (raw.credential && raw.clientSecretEnv !== undefined) {
      return problem(['clientSecretEnv'], 'is the short form of `credential: { kind: secret, env: … }` — give one of the two, not both');
    }
    const written = raw.credential ?? (raw.clientSecretEnv !== undefined ? { kind: 'secret' as const, env: raw.clientSecretEnv } : undefined);
    if (!written) {
      return problem(
        ['credential'],
        'is required — how the broker proves it is the Graph app: { kind: certificate, file } (recommended), { kind: federated }, { kind: managedIdentity } or { kind: secret, env }',
      );
    }
    const at = (key: string): (string | number)[] => (raw.credential ? ['credential', key] : ['clientSecretEnv']);
    for (const [key, value] of Object.entries(written)) {
      if (key === 'kind' || value === undefined || KEYS_OF_KIND[written.kind].includes(key)) continue;
      const owner = GRAPH_CREDENTIAL_KINDS.find((kind) => KEYS_OF_KIND[kind].includes(key));
      problem(at(key), `belongs to kind ${owner ?? 'none'}, not kind ${written.kind} — remove it or change kind`);
    }
    if (written.kind === 'managedIdentity') {
      // A managed identity is its own service principal: its client id is the identity's, not an app registration's.
      if (raw.clientId !== undefined) {
        return problem(
          ['clientId'],
          'does not go with a managed identity — the identity is the app; for a user-assigned identity write its client id as credential.clientId',
          raw.clientId,
        );
      }
      return { clientId: written.clientId ?? null, credential: { kind: 'managedIdentity' }, baseUrl: raw.baseUrl };
    }
    if (raw.clientId === undefined) {
      return problem(['clientId'], `is required — the application (client) id of the Graph app the ${written.kind} belongs to`);
    }
    const resolved = resolveCredential(written, options, at, problem);
    return resolved === z.NEVER ? z.NEVER : { clientId: raw.clientId, credential: resolved, baseUrl: raw.baseUrl };
  });
}

/**
 * An https URL Graph's versions hang under: normally an origin (https://graph.microsoft.com), but a
 * path is allowed for a Graph served below one (the dev tenant's https://127.0.0.1:4780/graph).
 */
function httpsBaseUrl(hint: string) {
  return z.string({ error: `must be an https URL — ${hint}` }).transform((value, ctx) => {
    const url = URL.canParse(value) ? new URL(value) : null;
    if (url?.protocol !== 'https:' || url.search || url.hash || url.username || url.password) {
      ctx.addIssue({ code: 'custom', message: `must be an https URL without query or credentials — ${hint}`, input: value });
      return z.NEVER;
    }
    return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  });
}

type Written = {
  kind: GraphCredential['kind'];
  env?: string | undefined;
  file?: string | undefined;
  passwordEnv?: string | undefined;
  tokenFile?: string | undefined;
};

function resolveCredential(
  written: Written,
  options: GraphSchemaOptions,
  at: (key: string) => (string | number)[],
  problem: (at: (string | number)[], message: string, input?: unknown) => typeof z.NEVER,
): GraphCredential | typeof z.NEVER {
  switch (written.kind) {
    case 'secret': {
      if (written.env === undefined) return problem(['credential'], 'kind secret needs `env`: the NAME of the environment variable holding the client secret');
      const parsed = secretFromEnv(options.env, 'the client secret').safeParse(written.env);
      // No `got`: what was written here may be the secret itself, which must not reach a log.
      if (!parsed.success) return problem(at('env'), parsed.error.issues[0]?.message ?? 'is not usable');
      return { kind: 'secret', env: written.env, secret: parsed.data };
    }
    case 'certificate': {
      if (written.file === undefined)
        return problem(['credential'], "kind certificate needs `file`: the PEM or PFX file with the app's certificate and private key");
      const file = path.resolve(options.baseDir, written.file);
      const named = written.passwordEnv;
      // The password itself never goes in the config: only the variable's name, so a misplaced password is not echoed.
      if (named !== undefined && !ENV_NAME.test(named))
        return problem(at('passwordEnv'), 'must be the NAME of an environment variable (e.g. ACCESS_GRAPH_CERT_PASSWORD), never the password itself');
      const value = named === undefined ? '' : options.env[named];
      if (value === undefined)
        return problem(at('passwordEnv'), `environment variable ${named} is not set — set it to the PFX file's password before starting the broker`);
      const read = readCertificateCredential(file, options.now(), { value, env: named ?? null });
      if ('problem' in read) return problem(at('file'), read.problem, written.file);
      return { kind: 'certificate', file, ...read };
    }
    case 'federated': {
      const named = written.tokenFile ?? options.env[FEDERATED_TOKEN_FILE_ENV];
      if (!named) {
        return problem(
          ['credential'],
          `kind federated needs \`tokenFile\`, or ${FEDERATED_TOKEN_FILE_ENV} set in the environment (AKS workload identity sets it)`,
        );
      }
      // The file is read for every token (the platform rotates it), so only that it is readable is checked now.
      const tokenFile = path.resolve(options.baseDir, named);
      try {
        accessSync(tokenFile, constants.R_OK);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(error);
        return problem(
          written.tokenFile === undefined ? ['credential'] : at('tokenFile'),
          `cannot read the federated token file ${tokenFile}${written.tokenFile === undefined ? ` (from $${FEDERATED_TOKEN_FILE_ENV})` : ''}: ${why}`,
        );
      }
      return { kind: 'federated', tokenFile };
    }
    case 'managedIdentity':
      return problem(['credential'], 'is handled before this point');
  }
}
