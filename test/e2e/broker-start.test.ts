// End to end with a real `access-broker dev` process: its port listens before the broker can
// serve (the dev tenant's URLs name the port, then the demo database starts). A request sent in
// that window is answered (503 not_ready with Retry-After), never left open; once ready,
// `/readyz` says so and the API answers.

import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startDevBrokerProcess, type DevBrokerProcess } from '../helpers/processes.js';

/** A guard so a request that is never answered fails the test with a message instead of hanging it. */
const UNANSWERED_AFTER_MS = 30_000;

let broker: DevBrokerProcess | null = null;

afterAll(async () => {
  await broker?.stop();
});

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { code?: string; status?: string; checks?: Record<string, string> };
}

async function get(url: string): Promise<Answer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(UNANSWERED_AFTER_MS) });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Answer['body'] };
}

/** GETs `url` as soon as something listens on its port: retries only while the connection is refused. */
async function firstAnswer(url: string): Promise<Answer> {
  for (;;) {
    try {
      return await get(url);
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      if (code !== 'ECONNREFUSED') throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe('access-broker dev while it starts', () => {
  it('answers a request sent before it is ready with 503 not_ready and Retry-After, then serves', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let ready = false;
    const starting = startDevBrokerProcess([], {}, { port }).then((started) => {
      ready = true;
      broker = started;
      return started;
    });

    const during = await firstAnswer(`${base}/v1/config`);
    const sentBeforeReady = !ready;
    expect(sentBeforeReady, 'the first request reached the broker before it printed Ready.').toBe(true);
    expect(during).toMatchObject({ status: 503, body: { code: 'not_ready' } });
    expect(during.retryAfter).toMatch(/^\d+$/);
    expect(await get(`${base}/healthz`)).toMatchObject({ status: 200, body: { status: 'up' } });

    await starting;
    expect(await get(`${base}/readyz`)).toMatchObject({
      status: 200,
      body: { status: 'ready', checks: { store: 'ok', 'signing keys': 'ok', graph: 'ok' } },
    });
    expect(await get(`${base}/v1/config`)).toMatchObject({ status: 200 });
  });
});
