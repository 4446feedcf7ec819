// Directory backed by Microsoft Graph: `GET /users/{oid}/transitiveMemberOf/microsoft.graph.group`
// with every page followed. The Graph client is the real @microsoft/microsoft-graph-client; the
// caller builds it (with an app-only token from MSAL client credentials).

import type { Client } from '@microsoft/microsoft-graph-client';
import { AccessError } from '../../shared/errors.js';
import type { GroupRef } from '../../shared/wire.js';
import type { Directory } from './directory.js';

/** Graph's maximum page size for transitiveMemberOf; fewer round trips for large memberships. */
export const GRAPH_PAGE_SIZE = 999;
/** A guard against a directory that keeps handing out nextLinks: 100 pages is ~100k groups. */
export const MAX_GRAPH_PAGES = 100;

interface GroupPage {
  value?: Array<{ id?: unknown; displayName?: unknown }>;
  '@odata.nextLink'?: unknown;
}

export class GraphDirectory implements Directory {
  readonly #client: Client;
  readonly #pageSize: number;

  constructor(client: Client, options: { pageSize?: number } = {}) {
    this.#client = client;
    this.#pageSize = options.pageSize ?? GRAPH_PAGE_SIZE;
  }

  async memberGroups(oid: string): Promise<GroupRef[]> {
    const groups: GroupRef[] = [];
    let next: string | undefined =
      `/users/${encodeURIComponent(oid)}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName&$top=${this.#pageSize}`;
    for (let page = 0; next; page++) {
      if (page >= MAX_GRAPH_PAGES) {
        throw new AccessError('directory_unavailable', `Microsoft Graph returned more than ${MAX_GRAPH_PAGES} pages of groups for user ${oid}; refusing to guess membership`);
      }
      const body = await this.#get(next, oid);
      for (const item of body.value ?? []) {
        if (typeof item.id === 'string') {
          groups.push({ id: item.id, displayName: typeof item.displayName === 'string' ? item.displayName : item.id });
        }
      }
      next = typeof body['@odata.nextLink'] === 'string' ? body['@odata.nextLink'] : undefined;
    }
    return groups;
  }

  async #get(path: string, oid: string): Promise<GroupPage> {
    try {
      return (await this.#client.api(path).get()) as GroupPage;
    } catch (error) {
      const status = typeof (error as { statusCode?: unknown }).statusCode === 'number' ? (error as { statusCode: number }).statusCode : 0;
      if (status === 404) {
        // A valid token for a user the directory does not know: no membership, nothing granted.
        return { value: [] };
      }
      const detail = error instanceof Error ? error.message : String(error);
      throw new AccessError(
        'directory_unavailable',
        `cannot read group membership of user ${oid} from Microsoft Graph (${status ? `HTTP ${status}: ` : ''}${detail}); access checks fail closed until Graph answers — try again shortly`,
        { cause: error },
      );
    }
  }
}
