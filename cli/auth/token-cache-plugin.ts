// MSAL's persistence hook over a SecretStore. MSAL keeps its cache in memory and calls the
// plugin around every cache access: before, we load what is persisted (another `access` process
// may have signed in or refreshed since); after, we persist only when MSAL says the cache changed.
// MSAL's deserialize merges into memory rather than replacing it, so a sign-out by another process
// is seen by the processes started after it; fine for a CLI whose runs last seconds.

import type { ICachePlugin, TokenCacheContext } from '@azure/msal-node';

import { AccessError } from '../../shared/errors.js';
import { oneLineReason, type SecretStore } from './secret-store.js';

export function tokenCachePlugin(store: SecretStore): ICachePlugin {
  return {
    async beforeCacheAccess(context: TokenCacheContext): Promise<void> {
      const text = await store.read();
      if (text === null) return; // nothing persisted yet: MSAL starts from an empty cache
      try {
        assertCacheShape(text);
        context.tokenCache.deserialize(text);
      } catch (error) {
        // Guessing "empty" here would silently sign the person out and overwrite the evidence.
        throw new AccessError(
          'secret_store_failed',
          `The token cache in the ${store.description} is corrupt (${oneLineReason(error)}). ` + 'Run `access logout` to clear it, then `access login` again.',
          { cause: error },
        );
      }
    },

    async afterCacheAccess(context: TokenCacheContext): Promise<void> {
      if (!context.cacheHasChanged) return;
      await store.write(context.tokenCache.serialize());
    },
  };
}

/** MSAL's deserialize accepts any JSON; a cache is a JSON object, so refuse anything else. */
function assertCacheShape(text: string): void {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return;
  const found = Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : `a ${typeof parsed}`;
  throw new Error(`expected a JSON object, found ${found}`);
}
