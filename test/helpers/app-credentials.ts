// App credentials for tests, made and registered the way an admin does it: an RSA certificate
// written as one PEM file (certificate + key, as `az ad app credential reset --create-cert` writes
// it) and registered on the app through Graph (`PATCH /applications(appId='…')` keyCredentials), a
// federated identity credential added through Graph, and a federated token file.

import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@microsoft/microsoft-graph-client';
import { generate } from 'selfsigned';

const DAY_MS = 86_400_000;

export interface AppCertificate {
  /** One PEM file holding the certificate and its private key. */
  file: string;
  /** The DER certificate, base64: what Graph's keyCredentials take as `key`. */
  derBase64: string;
}

export async function createAppCertificate(dir: string, name: string, options: { notAfter?: Date } = {}): Promise<AppCertificate> {
  const made = await generate([{ name: 'commonName', value: name }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - DAY_MS),
    notAfterDate: options.notAfter ?? new Date(Date.now() + 30 * DAY_MS),
  });
  const file = path.join(dir, `${name}.pem`);
  await writeFile(file, `${made.cert.trim()}\n${made.private.trim()}\n`, { mode: 0o600 });
  return { file, derBase64: new X509Certificate(made.cert).raw.toString('base64') };
}

/** Registers the certificate on the app (replacing its certificates, as a Graph PATCH does). */
export async function registerAppCertificate(admin: Client, appId: string, certificate: AppCertificate): Promise<void> {
  await admin.api(`/applications(appId='${appId}')`).patch({
    keyCredentials: [{ type: 'AsymmetricX509Cert', usage: 'Verify', key: certificate.derBase64, displayName: 'CN=test' }],
  });
}

export async function addFederatedCredential(admin: Client, appId: string, issuer: string, subject: string): Promise<void> {
  await admin.api(`/applications(appId='${appId}')/federatedIdentityCredentials`).post({
    name: `fic-${subject.replace(/[^a-z0-9]/gi, '-')}`,
    issuer,
    subject,
    audiences: ['api://AzureADTokenExchange'],
  });
}
