// Property-based fuzzing of every API route on a real socket: random and malformed bodies, wrong
// types, huge and non-UTF-8 payloads, path segments with broken escapes, unknown and garbage query
// parameters, other methods, broken tokens. The claims: whatever arrives, a refusal is a 4xx whose
// `{ code, message }` body carries a code of shared/errors.ts with that code's status (never a 500,
// never a stack), and a refused call changes nothing (the requests and the audit log are as before).
//
// The routes come from the broker's own table (brokerRoutes), so a new route is fuzzed without
// editing this file. Runs are bounded and deterministic: a fixed seed (override with FUZZ_SEED),
// which fast-check prints with the shrunk counterexample when a property fails.

import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_BODY_BYTES } from '../../../broker/http/respond.js';
import type { Route } from '../../../broker/http/router.js';
import { brokerRoutes } from '../../../broker/server.js';
import { ErrorCodes, isErrorCode } from '../../../shared/errors.js';
import type { RequestView } from '../../../shared/wire.js';
import { startTestBroker, type TestBroker } from '../events/broker-harness.js';
import { principal } from '../requests/harness.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20_261_206);
/** Calls per property: enough to reach every route many times, few enough for a few seconds a file. */
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 100);

/** The callers: requester, approver, auditor, admin, an app, nobody, and tokens that fail verification. */
const TOKENS = ['good-alice', 'good-bob', 'good-ivy', 'good-erin', 'app-robot', null, 'garbage', 'good-', 'Bearer x'] as const;
/** Whose stored requests the state snapshot reads. */
const PEOPLE = ['alice', 'bob', 'oscar', 'ivy', 'erin'];
const UPGRADE_PATHS = ['/v1/events', '/v1/tunnel'];

let broker: TestBroker;
let routes: Route[];
let pendingId: string;
let approvedId: string;

beforeAll(async () => {
  broker = await startTestBroker();
  routes = brokerRoutes(broker.app);
  // Something for fuzzed ids to hit: a pending request and a live grant.
  pendingId = ((await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db', reason: 'INC-1' })).body as RequestView).id;
  approvedId = ((await broker.call('POST', '/v1/requests', 'good-oscar', { resource: 'prod-db' })).body as RequestView).id;
  // Every token's first use is recorded (signin.seen); record them now so a refusal later changes nothing.
  for (const token of TOKENS) if (token) await broker.call('GET', '/v1/whoami', token);
});

afterAll(async () => {
  await broker.close();
});

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/** One raw HTTP request: no client-side normalization of the path, any bytes as the body. */
function send(method: string, pathAndQuery: string, token: string | null, body: Buffer | null, contentType: string | null): Promise<Answer> {
  const url = new URL(broker.base);
  const headers: Record<string, string> = {};
  if (token !== null) headers['authorization'] = token.startsWith('Bearer ') ? token : `Bearer ${token}`;
  if (contentType !== null) headers['content-type'] = contentType;
  if (body !== null) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: pathAndQuery, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    // The broker may answer (413) and close before it has read a large body: what it said still counts.
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

interface State {
  /** The audit log's last seq. */
  head: number;
  /** Every stored request the snapshot people see, as JSON. */
  requests: string;
}

async function snapshot(): Promise<State> {
  const requests = await Promise.all(PEOPLE.map((oid) => broker.runtime.service.listMine(principal(oid), { limit: 100 })));
  return { head: broker.runtime.audit.queries.headSeq(), requests: JSON.stringify(requests) };
}

/**
 * A refused call changes no request, and adds to the audit log at most the record of its own
 * refusal (`policy.refused` with the code the caller was given: DESIGN.md audits policy refusals).
 */
async function expectUnchanged(before: State, answer: Answer, what: string): Promise<void> {
  const after = await snapshot();
  expect(after.requests, `${what} was refused with ${answer.text} but changed a request`).toBe(before.requests);
  const added = broker.runtime.audit.queries.events({ afterSeq: before.head }).entries;
  const code = (JSON.parse(answer.text) as { code: string }).code;
  expect(
    added.map((entry) => ({ type: entry.type, code: entry.body['code'] })),
    `${what} was refused with ${answer.text}; the audit log may only record that refusal`,
  ).toEqual(added.length === 0 ? [] : [{ type: 'policy.refused', code }]);
}

function expectRefusalShape(answer: Answer, what: string): void {
  expect(answer.status, `${what} answered ${answer.status}: ${answer.text}`).toBeGreaterThanOrEqual(400);
  expect(answer.status, `${what} answered ${answer.status}: ${answer.text}`).toBeLessThan(500);
  expect(answer.contentType).toMatch(/^application\/json/);
  const body = JSON.parse(answer.text) as Record<string, unknown>;
  expect(Object.keys(body).sort(), what).toEqual(['code', 'message']);
  expect(isErrorCode(body['code']), `${what}: code ${String(body['code'])}`).toBe(true);
  expect(typeof body['message']).toBe('string');
  expect(body['message'] as string).not.toMatch(/\n\s+at /); // no stack trace
  expect(ErrorCodes[body['code'] as keyof typeof ErrorCodes].status, `${what}: status of ${String(body['code'])}`).toBe(answer.status);
}

// ---- generators ----------------------------------------------------------------------------------

/** Characters http.request accepts in a path unescaped, plus '%' for broken escapes. */
const PATH_SAFE = /^[A-Za-z0-9._~!$&'()*+,;=:@%-]*$/;

const segment = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength: 30 }).map((s) => encodeURIComponent(s)),
    fc.constantFrom('%', '%Z', '%ZZ', '%E0%A4%A', '%C0%AF', '%00', '%2F', '%2e%2e', '..', '.', '~', 'req001', '%F0%9F%92%A9', '%ED%A0%80'),
    fc.stringMatching(PATH_SAFE, { maxLength: 40 }),
    fc.constant(() => pendingId).map((f) => f()),
    fc.constant(() => approvedId).map((f) => f()),
    fc.integer({ min: 1_000, max: 9_000 }).map((n) => 'x'.repeat(n)),
  );

/** A route's path with every `:param` replaced by a fuzzed segment, and sometimes a segment more or less. */
const pathFor = (route: Route): fc.Arbitrary<string> =>
  fc.tuple(fc.array(segment(), { minLength: 3, maxLength: 3 }), fc.constantFrom('', '', '', '/', '/extra', '//')).map(([values, tail]) => {
    let i = 0;
    return route.path.replace(/:[a-z]+/g, () => values[i++ % values.length] as string) + tail;
  });

const KNOWN_QUERY_NAMES = ['state', 'limit', 'user', 'resource', 'since', 'until', 'after_seq', 'cursor', 'before'];
const queryValue = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom(
      '-1',
      '0',
      '1',
      '1e3',
      '0x10',
      '9007199254740993',
      'NaN',
      'Infinity',
      ' 5',
      '5 ',
      '',
      '7d',
      '-7d',
      '0d',
      '2025-02-30',
      'pending,,approved',
      'PENDING',
    ),
    fc.integer().map(String),
    fc.integer({ min: 1_000, max: 5_000 }).map((n) => '9'.repeat(n)),
  );
/** A query string: known names with garbage values, unknown names, repeats; `wait` is left out (a long poll would hold the run). */
const query = (): fc.Arbitrary<string> =>
  fc.array(fc.tuple(fc.oneof(fc.constantFrom(...KNOWN_QUERY_NAMES), fc.string({ maxLength: 10 })), queryValue()), { maxLength: 4 }).map((pairs) => {
    const params = new URLSearchParams(pairs.filter(([name]) => name !== 'wait'));
    const text = params.toString();
    return text ? `?${text}` : '';
  });

const KNOWN_FIELDS = ['resource', 'duration', 'reason', 'ticket', 'decision', 'comment'];
const fieldValue = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom('prod-db', 'two-key', 'nope', '1h', '9h', '0s', '-1h', 'approve', 'deny', 'APPROVE', '', ' ', '\u0000', '\u202e', 'x'.repeat(5000)),
    fc.string({ unit: 'binary', maxLength: 60 }),
  );

interface Body {
  bytes: Buffer | null;
  contentType: string | null;
}

const json = (value: unknown): Body => ({ bytes: Buffer.from(JSON.stringify(value) ?? 'null'), contentType: 'application/json' });

const body = (): fc.Arbitrary<Body> =>
  fc.oneof(
    fc.constant<Body>({ bytes: null, contentType: null }),
    fc.jsonValue({ maxDepth: 3 }).map(json),
    fc.dictionary(fc.oneof(fc.constantFrom(...KNOWN_FIELDS), fc.string({ maxLength: 8 })), fieldValue(), { maxKeys: 5 }).map(json),
    fc.string({ unit: 'binary', maxLength: 200 }).map((s): Body => ({ bytes: Buffer.from(s), contentType: 'application/json' })),
    fc.uint8Array({ maxLength: 200 }).map((b): Body => ({ bytes: Buffer.from(b), contentType: 'application/octet-stream' })),
    fc
      .constantFrom('{', '{"resource":', '[', '"', 'nul', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '{"resource":"prod-db","resource":1}')
      .map((s): Body => ({ bytes: Buffer.from(s), contentType: 'application/json' })),
    fc.integer({ min: MAX_JSON_BODY_BYTES - 10, max: MAX_JSON_BODY_BYTES + 4096 }).map((n) => json({ resource: 'prod-db', reason: 'r'.repeat(n) })),
  );

const token = (): fc.Arbitrary<string | null> => fc.constantFrom(...TOKENS);

// ---- properties ----------------------------------------------------------------------------------

describe('fuzzing the API', () => {
  it('answers any body, path and query on every route with a coded 4xx or a success, and a refusal changes nothing', async () => {
    const call = fc
      .record({
        route: fc.constantFrom(...routes),
        otherMethod: fc.option(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), { freq: 4 }),
        pathVariant: fc.nat(),
        query: query(),
        body: body(),
        token: token(),
      })
      .chain((c) => pathFor(c.route).map((path) => ({ ...c, path })));
    await fc.assert(
      fc.asyncProperty(call, async (c) => {
        const method = c.otherMethod ?? c.route.method;
        const before = await snapshot();
        const answer = await send(method, `${c.path}${c.query}`, c.token, c.body.bytes, c.body.contentType);
        const what = `${method} ${c.path}${c.query}`.slice(0, 300);
        if (answer.status >= 200 && answer.status < 300) return;
        expectRefusalShape(answer, what);
        await expectUnchanged(before, answer, what);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('answers paths no route knows with not_found or method_not_allowed, never a 500', async () => {
    const call = fc.record({
      path: fc.array(segment(), { minLength: 1, maxLength: 5 }).map((parts) => `/v1/${parts.join('/')}`),
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
      token: token(),
    });
    await fc.assert(
      fc.asyncProperty(call, async (c) => {
        const before = await snapshot();
        const answer = await send(c.method, c.path, c.token, null, null);
        if (answer.status >= 200 && answer.status < 300) return;
        const what = `${c.method} ${c.path}`.slice(0, 300);
        expectRefusalShape(answer, what);
        await expectUnchanged(before, answer, what);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('refuses a WebSocket upgrade with any query or token as an HTTP 4xx with a code, before a socket opens', async () => {
    const call = fc.record({
      path: fc.constantFrom(...UPGRADE_PATHS),
      query: fc.oneof(
        query(),
        segment().map((s) => `?resource=${s}`),
      ),
      method: fc.constantFrom('GET', 'GET', 'POST'),
      upgrade: fc.constantFrom('websocket', 'websocket', 'h2c', ''),
      // Nobody here holds a grant, so no tunnel may open; the events stream opens for a good token.
      token: fc.constantFrom('good-alice', 'good-ivy', 'app-robot', null, 'garbage'),
    });
    await fc.assert(
      fc.asyncProperty(call, async (c) => {
        const before = await snapshot();
        const answer = await upgrade(c.method, `${c.path}${c.query}`, c.token, c.upgrade);
        if (answer.status === 101) {
          expect(c.path).toBe('/v1/events');
          return;
        }
        const what = `${c.method} ${c.path}${c.query} upgrade ${c.upgrade}`.slice(0, 300);
        expectRefusalShape(answer, what);
        await expectUnchanged(before, answer, what);
      }),
      { seed: SEED, numRuns: Math.ceil(RUNS / 2) },
    );
  });
});

describe('bytes that are not HTTP', () => {
  it("answers what Node's parser refuses with a coded 4xx too (a header over 16 KiB → 431 headers_too_large)", async () => {
    const answer = await send('GET', `/v1/requests?state=${'p'.repeat(20_000)}`, 'good-alice', null, null);
    expectRefusalShape(answer, 'a 20 KB URL');
    expect(JSON.parse(answer.text)).toMatchObject({ code: 'headers_too_large' });
  });

  it('answers random bytes on a raw socket with a coded 400, or only closes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 300 }),
          fc.string({ maxLength: 100 }).map((s) => Buffer.from(`GET /v1/${s} HTTP/1.1\r\nHost: x\r\n\r\n`)),
        ),
        async (bytes) => {
          const before = await snapshot();
          const reply = await raw(Buffer.from(bytes));
          const status = /^HTTP\/1\.1 (\d{3})/.exec(reply);
          if (!status) return expect(reply).toBe('');
          const code = Number(status[1]);
          const text = reply.slice(reply.indexOf('\r\n\r\n') + 4);
          expect(code, reply).not.toBe(500);
          if (code >= 400) expectRefusalShape({ status: code, contentType: /content-type: ([^\r]+)/i.exec(reply)?.[1] ?? '', text }, 'raw bytes');
          if (code >= 400) await expectUnchanged(before, { status: code, contentType: '', text }, 'raw bytes');
        },
      ),
      { seed: SEED, numRuns: Math.ceil(RUNS / 3) },
    );
  });
});

/** Writes `bytes` on a fresh connection and returns everything the broker sends until it closes (or 2 s pass). */
function raw(bytes: Buffer): Promise<string> {
  const url = new URL(broker.base);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    // A well-formed request on a keep-alive connection is answered and the socket kept open: stop at the answer.
    const done = (): void => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(done, 2_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('utf8');
      const length = /content-length: (\d+)/i.exec(text);
      const head = text.indexOf('\r\n\r\n');
      if (length && head >= 0 && Buffer.byteLength(text.slice(head + 4)) >= Number(length[1])) {
        clearTimeout(timer);
        done();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    socket.end(bytes);
  });
}

/** An upgrade request by hand; 101 (then closed at once) or the HTTP answer of a refusal. */
function upgrade(method: string, pathAndQuery: string, token: string | null, upgradeTo: string): Promise<Answer> {
  const url = new URL(broker.base);
  const headers: Record<string, string> = {
    connection: 'Upgrade',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-version': '13',
  };
  if (upgradeTo) headers['upgrade'] = upgradeTo;
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: pathAndQuery, headers, agent: false });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve({ status: 101, contentType: '', text: '' });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}
