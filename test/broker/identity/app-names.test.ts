import type { Client } from '@microsoft/microsoft-graph-client';
import { describe, expect, it } from 'vitest';
import { APP_NAME_CACHE_MS, GraphAppNames, withAppNames } from '../../../broker/identity/app-names.js';
import { principal } from '../requests/harness.js';

/** A Graph client answering `/applications(appId='…')` from `names`; anything else fails like a 403. */
function fakeGraph(names: Record<string, string>, calls: string[]): Client {
  return {
    api: (path: string) => ({
      select: () => ({
        get: async () => {
          calls.push(path);
          const appId = /appId='([^']+)'/.exec(path)?.[1] ?? '';
          const name = names[appId];
          if (!name) throw Object.assign(new Error('Authorization_RequestDenied'), { statusCode: 403 });
          return { displayName: name };
        },
      }),
    }),
  } as unknown as Client;
}

describe('workload names', () => {
  it("fills in an app principal's display name from Graph, once an hour per app", async () => {
    const calls: string[] = [];
    let now = 0;
    const names = new GraphAppNames(fakeGraph({ 'app-1': 'nightly-export' }, calls), () => now);
    const verifier = withAppNames({ verify: async () => ({ ...principal('sp-1', 'app'), name: null, appId: 'app-1' }) }, names);
    expect((await verifier.verify('t')).name).toBe('nightly-export');
    await verifier.verify('t');
    expect(calls).toHaveLength(1);
    now += APP_NAME_CACHE_MS;
    await verifier.verify('t');
    expect(calls).toHaveLength(2);
  });

  it('leaves the name out when Graph cannot say, and never looks up a person', async () => {
    const calls: string[] = [];
    const names = new GraphAppNames(fakeGraph({}, calls));
    const app = withAppNames({ verify: async () => ({ ...principal('sp-2', 'app'), name: null, appId: 'unknown' }) }, names);
    expect((await app.verify('t')).name).toBeNull();
    const person = withAppNames({ verify: async () => principal('alice') }, names);
    expect((await person.verify('t')).name).toBe('alice');
    expect(calls).toHaveLength(1);
  });
});
