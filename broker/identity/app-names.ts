// Workloads' display names, for people and the audit log. An app-only access token names its client
// by id only (azp/appid; Entra puts no display name in it), so the app registration's displayName
// is read from Microsoft Graph (`GET /applications(appId='…')`, which needs Application.Read.All),
// cached, and simply left out when Graph cannot say: a name is for display, never for a decision.

import type { Client } from '@microsoft/microsoft-graph-client';
import type { Verifier } from '../app.js';
import { setBounded } from '../../shared/bounded-map.js';

/** App registrations are renamed rarely; an hour-old name is fine for display. */
export const APP_NAME_CACHE_MS = 60 * 60_000;
/** Distinct apps whose names are kept; beyond it the oldest are forgotten (and read again when seen). */
export const MAX_APP_NAMES = 1_000;

export interface AppNames {
  /** The app's display name, or null when the directory cannot say (never throws). */
  nameOf(appId: string): Promise<string | null>;
}

export class GraphAppNames implements AppNames {
  readonly #client: Client;
  readonly #now: () => number;
  readonly #names = new Map<string, { name: string | null; at: number }>();

  constructor(client: Client, now: () => number = Date.now) {
    this.#client = client;
    this.#now = now;
  }

  async nameOf(appId: string): Promise<string | null> {
    const cached = this.#names.get(appId);
    if (cached && this.#now() - cached.at < APP_NAME_CACHE_MS) return cached.name;
    let name: string | null = null;
    try {
      const app = (await this.#client
        .api(`/applications(appId='${encodeURIComponent(appId)}')`)
        .select('displayName')
        .get()) as { displayName?: unknown };
      name = typeof app.displayName === 'string' && app.displayName !== '' ? app.displayName : null;
    } catch {
      // Without Application.Read.All (or with Graph down) the workload is shown by its client id.
    }
    setBounded(this.#names, appId, { name, at: this.#now() }, MAX_APP_NAMES);
    return name;
  }
}

/** `verifier`, with an app principal's name filled in from `names` when its token carries none. */
export function withAppNames(verifier: Verifier, names: AppNames): Verifier {
  return {
    async verify(token) {
      const principal = await verifier.verify(token);
      if (principal.kind !== 'app' || principal.name !== null || principal.appId === null) return principal;
      return { ...principal, name: await names.nameOf(principal.appId) };
    },
  };
}
