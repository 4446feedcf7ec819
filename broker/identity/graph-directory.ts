// Directory backed by Microsoft Graph: `GET /users/{oid}/transitiveMemberOf/microsoft.graph.group`
// with every page followed. The OData cast is an advanced query: Microsoft documents it with
// `ConsistencyLevel: eventual` and `$count=true`, which every page is sent with. The Graph client is
// the real @microsoft/microsoft-graph-client; the caller builds it (with an app-only token from MSAL).
//
// An app granted only User.Read.All gets "limited information" group objects: an id and no
// displayName. Matching by object id (serve) still works, so that is a warning (once); a policy that
// names groups by display name (dev) could only match nothing, so there it is an error.

import type { Client } from '@microsoft/microsoft-graph-client';
import { AccessError } from '../../shared/errors.js';
import type { GroupRef } from '../../shared/wire.js';
import type { Directory } from './directory.js';

/** Graph's maximum page size for transitiveMemberOf; fewer round trips for large memberships. */
export const GRAPH_PAGE_SIZE = 999;
/** A guard against a directory that keeps handing out nextLinks: 100 pages is ~100k groups. */
export const MAX_GRAPH_PAGES = 100;
/** The header Graph's advanced queries (here: the OData cast with $count) need. */
export const CONSISTENCY_HEADER = { name: 'ConsistencyLevel', value: 'eventual' } as const;

export interface GraphDirectoryOptions {
  /** $top of each page. Default GRAPH_PAGE_SIZE. */
  pageSize?: number;
  /** The policy names groups by display name (dev tenant): groups without one make membership undecidable. Default false. */
  groupNamesMatter?: boolean;
  /** Told once when Graph hides group names (limited information) and names do not matter. */
  warn?: (message: string) => void;
}

interface GroupPage {
  value?: Array<{ id?: unknown; displayName?: unknown }>;
  '@odata.nextLink'?: unknown;
}

export class GraphDirectory implements Directory {
  readonly #client: Client;
  readonly #pageSize: number;
  readonly #groupNamesMatter: boolean;
  readonly #warn: (message: string) => void;
  #warnedLimited = false;

  constructor(client: Client, options: GraphDirectoryOptions = {}) {
    this.#client = client;
    this.#pageSize = options.pageSize ?? GRAPH_PAGE_SIZE;
    this.#groupNamesMatter = options.groupNamesMatter ?? false;
    this.#warn = options.warn ?? (() => undefined);
  }

  async memberGroups(oid: string): Promise<GroupRef[]> {
    const groups: GroupRef[] = [];
    let next: string | undefined =
      `/users/${encodeURIComponent(oid)}/transitiveMemberOf/microsoft.graph.group?$count=true&$select=id,displayName&$top=${this.#pageSize}`;
    const unnamed: string[] = [];
    for (let page = 0; next; page++) {
      if (page >= MAX_GRAPH_PAGES) {
        throw new AccessError(
          'directory_unavailable',
          `Microsoft Graph returned more than ${MAX_GRAPH_PAGES} pages of groups for user ${oid}; refusing to guess membership`,
        );
      }
      const body = await this.#get(next, oid);
      for (const item of body.value ?? []) {
        if (typeof item.id !== 'string') continue;
        if (typeof item.displayName === 'string') groups.push({ id: item.id, displayName: item.displayName });
        else {
          unnamed.push(item.id);
          groups.push({ id: item.id, displayName: item.id });
        }
      }
      next = typeof body['@odata.nextLink'] === 'string' ? body['@odata.nextLink'] : undefined;
    }
    if (unnamed.length > 0) this.#limitedInformation(oid, unnamed);
    return groups;
  }

  #limitedInformation(oid: string, unnamed: readonly string[]): void {
    const what =
      `Microsoft Graph returned ${unnamed.length} group(s) of user ${oid} without a displayName (e.g. ${unnamed[0]}): ` +
      'the Graph app sees only "limited information" group objects, as an app granted just User.Read.All does; ' +
      'grant it GroupMember.Read.All (application) and admin consent';
    if (this.#groupNamesMatter) {
      throw new AccessError(
        'directory_unavailable',
        `${what}. This policy names groups by display name, so membership cannot be decided; access checks fail closed until then`,
      );
    }
    if (this.#warnedLimited) return;
    this.#warnedLimited = true;
    this.#warn(`${what}. Policy matches by object id, so access is decided correctly, but people will see group ids instead of names`);
  }

  async #get(path: string, oid: string): Promise<GroupPage> {
    try {
      return (await this.#client.api(path).header(CONSISTENCY_HEADER.name, CONSISTENCY_HEADER.value).get()) as GroupPage;
    } catch (error) {
      const status = typeof (error as { statusCode?: unknown }).statusCode === 'number' ? (error as { statusCode: number }).statusCode : 0;
      if (status === 404) {
        // A valid token for a user the directory does not know: no membership, nothing granted.
        return { value: [] };
      }
      const detail = error instanceof Error ? error.message : String(error);
      if (status === 429) {
        throw new AccessError(
          'directory_unavailable',
          `Microsoft Graph is throttling the broker (HTTP 429${retryAfterOf(error)}) beyond the broker's retry budget (graphRetryBudget) while reading the groups of user ${oid}; access checks fail closed — try again shortly`,
          { cause: error },
        );
      }
      throw new AccessError(
        'directory_unavailable',
        `cannot read group membership of user ${oid} from Microsoft Graph (${status ? `HTTP ${status}: ` : ''}${detail}); access checks fail closed until Graph answers — try again shortly`,
        { cause: error },
      );
    }
  }
}

/** ", Retry-After N s" from a GraphError's response headers, when Graph sent one. */
function retryAfterOf(error: unknown): string {
  const headers = (error as { headers?: unknown }).headers;
  const value = headers instanceof Headers ? headers.get('retry-after') : null;
  return value ? `, Retry-After ${value} s` : '';
}
