// `notifications:` of the broker config: where the broker posts what happens (Teams and Slack
// incoming webhooks, a generic JSON webhook signed with HMAC-SHA256) and how it retries.
//
//   notifications:
//     retry: { firstDelay: 5s, maxDelay: 10m, attempts: 20 }
//     destinations:
//       - { name: dba-slack, kind: slack, urlEnv: ACCESS_SLACK_WEBHOOK_URL }
//       - { name: dba-teams, kind: teams, urlFile: /run/secrets/teams-url, events: [new_request, break_glass] }
//       - { name: siem, kind: webhook, url: https://siem.example/access, secretEnv: ACCESS_WEBHOOK_SECRET }
//
// Secrets come from the environment or a file, read at start (a missing one stops the broker), and
// never from the file itself: a Slack or Teams webhook URL is a secret (whoever has it may post).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { choice, duration, ENV_NAME, strictMapping, text, wholeNumber } from './fields.js';
import type { NoticeKind, NotificationDestination, NotificationsConfig } from './types.js';

export const NOTICE_KINDS = ['new_request', 'decision', 'break_glass', 'extension_request', 'expiring', 'revoke'] as const satisfies readonly NoticeKind[];
export const DEFAULT_FIRST_RETRY_MS = 5_000;
export const DEFAULT_MAX_RETRY_MS = 10 * 60_000;
/** With the defaults, about two and a half hours of tries before a notification is given up. */
export const DEFAULT_MAX_ATTEMPTS = 20;
/** More tries than this is a destination that is gone, not down. */
const MAX_ATTEMPTS_LIMIT = 100;
/** A secret file is a line; anything this large is the wrong file. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;
/** Too short an HMAC key is guessable; 32 bytes is what `openssl rand -hex 32` gives. */
export const MIN_WEBHOOK_SECRET_CHARS = 32;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

interface SecretSources {
  env: NodeJS.ProcessEnv;
  baseDir: string;
}

type Issue = { path: (string | number)[]; message: string; input?: unknown };

/** A secret named by `<key>Env` or `<key>File` (exactly one): its value, or the problem. */
function readSecret(
  written: { env?: string | undefined; file?: string | undefined },
  key: string,
  what: string,
  sources: SecretSources,
): { value: string } | Issue {
  if ((written.env === undefined) === (written.file === undefined)) {
    return { path: [], message: `needs exactly one of ${key}Env (an environment variable's NAME) or ${key}File (a file holding ${what})` };
  }
  if (written.env !== undefined) {
    if (!ENV_NAME.test(written.env))
      return { path: [`${key}Env`], message: `must be the NAME of an environment variable, never ${what} itself`, input: '(hidden)' };
    const value = sources.env[written.env]?.trim();
    if (!value)
      return { path: [`${key}Env`], message: `environment variable ${written.env} is not set or empty — set it to ${what} before starting the broker` };
    return { value };
  }
  const file = path.resolve(sources.baseDir, written.file as string);
  try {
    const bytes = readFileSync(file);
    if (bytes.length > MAX_SECRET_FILE_BYTES) return { path: [`${key}File`], message: `${file} is ${bytes.length} bytes — not a file holding ${what}` };
    const value = bytes.toString('utf8').trim();
    if (value === '') return { path: [`${key}File`], message: `${file} is empty — it must hold ${what}` };
    return { value };
  } catch (error) {
    return { path: [`${key}File`], message: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` };
  }
}

/** https, or http to loopback (a local relay, the tests' receivers). */
function urlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol === 'https:') return null;
  if (parsed.protocol === 'http:' && LOOPBACK.has(parsed.hostname)) return null;
  return 'must be an https:// URL (plain http only to localhost): notifications carry who asked for what';
}

function destinationSchema(sources: SecretSources) {
  return strictMapping(
    {
      name: text('how logs name this destination, e.g. dba-slack'),
      kind: choice(['slack', 'teams', 'webhook'], 'slack and teams incoming webhooks, or a generic JSON webhook signed with HMAC-SHA256'),
      url: text('the webhook URL (kind webhook only; Slack and Teams URLs are secrets: urlEnv or urlFile)').optional(),
      urlEnv: text('the NAME of the environment variable holding the webhook URL').optional(),
      urlFile: text('a file holding the webhook URL').optional(),
      secretEnv: text('kind webhook: the NAME of the environment variable holding the HMAC key').optional(),
      secretFile: text('kind webhook: a file holding the HMAC key').optional(),
      events: z
        .array(choice(NOTICE_KINDS, 'what this destination is told'), { error: `must be a list of ${NOTICE_KINDS.join(', ')}` })
        .min(1)
        .optional(),
    },
    'a destination: { name, kind: slack | teams | webhook, urlEnv | urlFile (| url for webhook), secretEnv | secretFile (webhook) }',
  ).transform((raw, ctx): NotificationDestination => {
    const add = (issue: Issue): void => ctx.addIssue({ code: 'custom', ...issue });
    let url = '';
    if (raw.url !== undefined) {
      if (raw.kind !== 'webhook')
        add({ path: ['url'], message: `a ${raw.kind} webhook URL is a secret (anyone who has it may post) — use urlEnv or urlFile instead` });
      if (raw.urlEnv !== undefined || raw.urlFile !== undefined) add({ path: ['url'], message: 'give one of url, urlEnv and urlFile' });
      url = raw.url;
    } else {
      const read = readSecret({ env: raw.urlEnv, file: raw.urlFile }, 'url', 'the webhook URL', sources);
      if ('value' in read) url = read.value;
      else add(read);
    }
    const bad = url === '' ? null : urlProblem(url);
    // The URL itself may be secret: it is never quoted back.
    if (bad) add({ path: [raw.url !== undefined ? 'url' : raw.urlEnv !== undefined ? 'urlEnv' : 'urlFile'], message: `the webhook URL ${bad}` });
    let secret: string | null = null;
    if (raw.kind === 'webhook') {
      const read = readSecret({ env: raw.secretEnv, file: raw.secretFile }, 'secret', 'the HMAC key (e.g. `openssl rand -hex 32`)', sources);
      if ('value' in read) {
        secret = read.value;
        if (secret.length < MIN_WEBHOOK_SECRET_CHARS)
          add({
            path: [raw.secretEnv !== undefined ? 'secretEnv' : 'secretFile'],
            message: `the HMAC key is ${secret.length} characters; use at least ${MIN_WEBHOOK_SECRET_CHARS} (e.g. \`openssl rand -hex 32\`)`,
          });
      } else add(read);
    } else if (raw.secretEnv !== undefined || raw.secretFile !== undefined) {
      add({
        path: [raw.secretEnv !== undefined ? 'secretEnv' : 'secretFile'],
        message: `applies to kind webhook only: ${raw.kind} messages are not signed — remove it`,
      });
    }
    return { name: raw.name, kind: raw.kind, url, secret, events: raw.events ? [...new Set(raw.events)] : [...NOTICE_KINDS] };
  });
}

export function notificationsSchema(sources: SecretSources) {
  return strictMapping(
    {
      retry: strictMapping(
        {
          firstDelay: duration('the wait before the first retry, e.g. 5s', DEFAULT_MAX_RETRY_MS, 'retries start soon').default(DEFAULT_FIRST_RETRY_MS),
          maxDelay: duration('the longest wait between tries, e.g. 10m', 24 * 3_600_000, 'a day between tries is giving up').default(DEFAULT_MAX_RETRY_MS),
          attempts: wholeNumber(1, MAX_ATTEMPTS_LIMIT, 'tries before a notification is given up').default(DEFAULT_MAX_ATTEMPTS),
        },
        'retry: { firstDelay: 5s, maxDelay: 10m, attempts: 20 }',
      ).optional(),
      destinations: z.array(destinationSchema(sources), { error: 'must be a list of destinations' }).min(1, { error: 'must name at least one destination' }),
    },
    'notifications: { destinations: [{ name, kind, urlEnv }], retry? } (see README, "Notifications")',
  ).transform((raw, ctx): NotificationsConfig => {
    const seen = new Set<string>();
    raw.destinations.forEach((destination, index) => {
      if (seen.has(destination.name))
        ctx.addIssue({
          code: 'custom',
          path: ['destinations', index, 'name'],
          message: 'is used by another destination — names must be unique',
          input: destination.name,
        });
      seen.add(destination.name);
    });
    const retry = raw.retry ?? { firstDelay: DEFAULT_FIRST_RETRY_MS, maxDelay: DEFAULT_MAX_RETRY_MS, attempts: DEFAULT_MAX_ATTEMPTS };
    if (retry.firstDelay > retry.maxDelay) ctx.addIssue({ code: 'custom', path: ['retry', 'firstDelay'], message: 'must not be longer than retry.maxDelay' });
    return { destinations: raw.destinations, firstRetryMs: retry.firstDelay, maxRetryMs: retry.maxDelay, maxAttempts: retry.attempts };
  });
}
