// What makes a dev tenant the same tenant across restarts: its id, its app registrations and
// secrets, the object ids of its users and groups, its signing keys and the secret its refresh
// tokens are signed with. With a data dir this lives in one JSON file (0600, dir 0700) written
// atomically; without one it lives only in memory and every start is a new tenant.

import { randomBytes, randomUUID, type JsonWebKey } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { AccessError } from '../../shared/errors.js';
import type { DevDirectory } from '../config/types.js';
import { assignObjectIds, type ObjectIds } from './directory.js';
import { type NewSigningKey, SigningKeys, type StoredSigningKey } from './signing-keys.js';

export const STATE_FILE_NAME = 'dev-tenant.json';
/** Bumped when the file's shape changes incompatibly; an unknown version is refused, never guessed. */
const STATE_VERSION = 1;
/** Random bytes in an app client secret (40 base64url characters, the length of an Entra secret). */
const CLIENT_SECRET_BYTES = 30;
/** Random bytes in the HMAC key of refresh tokens (HS256 wants at least 32). */
const REFRESH_SECRET_BYTES = 32;

export interface AppState {
  clientId: string;
  /** Object id of the app's service principal: `oid`/`sub` of its app-only tokens. */
  servicePrincipalId: string;
  /** Null for apps that cannot authenticate (the public CLI client, the API itself). */
  clientSecret: string | null;
}

export interface TenantState {
  version: typeof STATE_VERSION;
  tenantId: string;
  apps: { cli: AppState; api: AppState; graph: AppState; automation: AppState; directoryAdmin: AppState };
  refreshTokenSecret: string;
  objectIds: ObjectIds;
  signingKeys: StoredSigningKey[];
}

const appSchema = z.object({
  clientId: z.uuid(),
  servicePrincipalId: z.uuid(),
  clientSecret: z.string().min(1).nullable(),
});

const stateSchema = z.object({
  version: z.literal(STATE_VERSION),
  tenantId: z.uuid(),
  // directoryAdmin came later: a file written before it gets one on open (see readState).
  apps: z.object({ cli: appSchema, api: appSchema, graph: appSchema, automation: appSchema, directoryAdmin: appSchema.optional() }),
  refreshTokenSecret: z.string().min(43),
  objectIds: z.object({ users: z.record(z.string(), z.uuid()), groups: z.record(z.string(), z.uuid()) }),
  signingKeys: z.array(z.object({ kid: z.string().min(1), createdAt: z.number(), privateJwk: z.record(z.string(), z.unknown()) })).min(1),
});

export class TenantStateStore {
  readonly #file: string | null;
  readonly state: TenantState;

  private constructor(file: string | null, state: TenantState) {
    this.#file = file;
    this.state = state;
  }

  /**
   * Loads the state from `dataDir` (creating it on first use) or makes a fresh in-memory one.
   * Object ids follow the given directory: new users and groups get ids, removed ones are dropped.
   * A fresh state's first signing key comes from `newKey`.
   */
  static async open(dataDir: string | null, directory: DevDirectory, now: number, newKey: NewSigningKey): Promise<TenantStateStore> {
    if (dataDir === null) return new TenantStateStore(null, await freshState(directory, now, newKey));
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(dataDir, STATE_FILE_NAME);
    const previous = await readState(file);
    const state = previous ? { ...previous, objectIds: assignObjectIds(directory, previous.objectIds) } : await freshState(directory, now, newKey);
    const store = new TenantStateStore(file, state);
    await store.save();
    return store;
  }

  /** Writes the state (no-op in memory): a temporary 0600 file renamed over the old one. */
  async save(): Promise<void> {
    if (this.#file === null) return;
    // Unique per write, so two saves in flight (a rotation during another) never share a file.
    const temporary = `${this.#file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, this.#file);
  }
}

function newApp(withSecret: boolean): AppState {
  return {
    clientId: randomUUID(),
    servicePrincipalId: randomUUID(),
    clientSecret: withSecret ? randomBytes(CLIENT_SECRET_BYTES).toString('base64url') : null,
  };
}

async function freshState(directory: DevDirectory, now: number, newKey: NewSigningKey): Promise<TenantState> {
  return {
    version: STATE_VERSION,
    tenantId: randomUUID(),
    apps: { cli: newApp(false), api: newApp(false), graph: newApp(true), automation: newApp(true), directoryAdmin: newApp(true) },
    refreshTokenSecret: randomBytes(REFRESH_SECRET_BYTES).toString('base64url'),
    objectIds: assignObjectIds(directory, null),
    signingKeys: [await newKey(now)],
  };
}

async function readState(file: string): Promise<TenantState | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AccessError('config_invalid', `cannot read dev tenant state "${file}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  const unusable = (why: string, cause?: unknown): AccessError =>
    new AccessError('config_invalid', `dev tenant state "${file}" is unusable (${why}); delete it to start a new dev tenant (everyone signs in again)`, {
      cause,
    });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw unusable('not JSON', error);
  }
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw unusable(issue ? `${issue.path.join('.') || 'top level'}: ${issue.message}` : 'unexpected shape');
  }
  const state: TenantState = {
    ...parsed.data,
    apps: { ...parsed.data.apps, directoryAdmin: parsed.data.apps.directoryAdmin ?? newApp(true) },
    signingKeys: parsed.data.signingKeys.map((k) => ({ ...k, privateJwk: k.privateJwk as JsonWebKey })),
  };
  try {
    // Load every key once now, so a damaged key is reported here with the file name.
    SigningKeys.check(state.signingKeys);
  } catch (error) {
    throw unusable(`a signing key does not load: ${(error as Error).message}`, error);
  }
  return state;
}
