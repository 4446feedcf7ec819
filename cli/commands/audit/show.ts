// `access audit show ID [--limit N] [--json]`: the whole story of a request or a session (auditors only).

import { AccessError } from '../../../shared/errors.js';
import type { AuditShowResponse } from '../../../shared/wire.js';
import { wholeNumberFlag } from '../../audit/flags.js';
import { printStory } from '../../audit/story.js';
import type { BrokerClient } from '../../broker-client.js';
import { SHOW_ENTRIES_DEFAULT, stringOption, type CommandRun } from '../command.js';

/** Entries of a story asked for per page once the first answer was cut or too large. */
const STORY_PAGE_ENTRIES = 250;

/**
 * The story of `id`, up to `limit` entries (the broker's default when not given): asked for in one
 * answer first, then page by page (`after_seq`) while the broker says it was cut and more is
 * wanted, halving a page whose answer is too large for the client.
 */
async function readStory(client: Pick<BrokerClient, 'get'>, id: string, limit: number | undefined): Promise<AuditShowResponse> {
  const base = `/v1/audit/show/${encodeURIComponent(id)}`;
  let story: AuditShowResponse | null = null;
  let pageEntries = STORY_PAGE_ENTRIES;
  try {
    story = await client.get<AuditShowResponse>(limit === undefined ? base : `${base}?limit=${limit}`);
  } catch (error) {
    if (!(error instanceof AccessError) || error.code !== 'response_too_large') throw error;
  }
  const wanted = limit ?? SHOW_ENTRIES_DEFAULT;
  while (story === null || (story.truncated && story.entries.length < wanted)) {
    const afterSeq = story?.entries.at(-1)?.seq ?? 0;
    const size = Math.min(pageEntries, wanted - (story?.entries.length ?? 0));
    let page: AuditShowResponse;
    try {
      page = await client.get<AuditShowResponse>(`${base}?limit=${size}&after_seq=${afterSeq}`);
    } catch (error) {
      if (error instanceof AccessError && error.code === 'response_too_large' && pageEntries > 1) {
        pageEntries = Math.ceil(pageEntries / 2);
        continue;
      }
      throw error;
    }
    story = story === null ? page : { ...story, entries: [...story.entries, ...page.entries], truncated: page.truncated };
    if (page.entries.length === 0) break;
  }
  return story;
}

export const run: CommandRun = async (ctx, options, [id]) => {
  const limit = wholeNumberFlag('limit', stringOption(options, 'limit'), 1, Number.MAX_SAFE_INTEGER);
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  const story = await readStory(client, id ?? '', limit);
  if (options.json) ctx.out.json(story);
  else printStory(story, ctx.now(), ctx.out);
};
