// `notifications:` in the config: destinations whose URLs and keys come from the environment or a
// file (never the file itself, for Slack and Teams), https only off loopback, and the retry schedule.

import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';

const file = (...lines: string[]): string => `${lines.join('\n')}\n`;
const resource = [
  'resources:',
  '  db:',
  '    kind: tcp',
  '    target: db.internal:5432',
  '    requesters: [sg-eng]',
  '    approvers: [sg-dba]',
  '    maxDuration: 4h',
];
const KEY = 'k'.repeat(40);

function refusal(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(text, 'config.yaml', env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
}

describe('notifications config', () => {
  it('reads destinations from the environment and a file, with every event by default and the default retries', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'access-notify-'));
    await writeFile(path.join(dir, 'teams.url'), 'https://contoso.webhook.office.com/workflows/abc\n');
    const config = parseConfig(
      file(
        ...resource,
        'notifications:',
        '  destinations:',
        '    - { name: dba-slack, kind: slack, urlEnv: SLACK_URL, events: [new_request, break_glass] }',
        '    - { name: dba-teams, kind: teams, urlFile: teams.url }',
        '    - { name: siem, kind: webhook, url: "https://siem.example/access", secretEnv: HOOK_KEY }',
      ),
      path.join(dir, 'config.yaml'),
      { SLACK_URL: 'https://hooks.slack.com/services/T/B/x', HOOK_KEY: KEY },
      { baseDir: dir },
    );
    expect(config.notifications).toEqual({
      destinations: [
        { name: 'dba-slack', kind: 'slack', url: 'https://hooks.slack.com/services/T/B/x', secret: null, events: ['new_request', 'break_glass'] },
        {
          name: 'dba-teams',
          kind: 'teams',
          url: 'https://contoso.webhook.office.com/workflows/abc',
          secret: null,
          events: ['new_request', 'decision', 'break_glass', 'extension_request', 'expiring', 'revoke'],
        },
        {
          name: 'siem',
          kind: 'webhook',
          url: 'https://siem.example/access',
          secret: KEY,
          events: ['new_request', 'decision', 'break_glass', 'extension_request', 'expiring', 'revoke'],
        },
      ],
      firstRetryMs: 5_000,
      maxRetryMs: 600_000,
      maxAttempts: 20,
    });
  });

  it.each([
    [
      'a Slack URL written in the file',
      '    - { name: s, kind: slack, url: "https://hooks.slack.com/services/T/B/x" }',
      {},
      /destinations\[0\]\.url: a slack webhook URL is a secret .* use urlEnv or urlFile instead/,
    ],
    [
      'an unset environment variable',
      '    - { name: s, kind: slack, urlEnv: NOPE }',
      {},
      /destinations\[0\]\.urlEnv: environment variable NOPE is not set or empty/,
    ],
    [
      'plain http off loopback',
      '    - { name: s, kind: slack, urlEnv: U }',
      { U: 'http://hooks.example/x' },
      /the webhook URL must be an https:\/\/ URL \(plain http only to localhost\)/,
    ],
    [
      'a webhook without its key',
      '    - { name: w, kind: webhook, url: "https://siem.example/a" }',
      {},
      /destinations\[0\]: needs exactly one of secretEnv .* or secretFile/,
    ],
    [
      'a short webhook key',
      '    - { name: w, kind: webhook, url: "https://siem.example/a", secretEnv: K }',
      { K: 'short' },
      /the HMAC key is 5 characters; use at least 32/,
    ],
    [
      'a key on a Slack destination',
      '    - { name: s, kind: slack, urlEnv: U, secretEnv: K }',
      { U: 'https://hooks.slack.com/x', K: KEY },
      /secretEnv: applies to kind webhook only/,
    ],
    [
      'an unknown event',
      '    - { name: s, kind: slack, urlEnv: U, events: [everything] }',
      { U: 'https://hooks.slack.com/x' },
      /events\[0\]: must be one of new_request, decision, break_glass, extension_request, expiring, revoke/,
    ],
  ])('refuses %s, naming the key', (_name, line, env, expected) => {
    expect(refusal(file(...resource, 'notifications:', '  destinations:', line), env)).toMatch(expected);
  });

  it('refuses two destinations with one name and a first retry longer than the longest', () => {
    const env = { U: 'https://hooks.slack.com/x' };
    const message = refusal(
      file(
        ...resource,
        'notifications:',
        '  retry: { firstDelay: 5m, maxDelay: 1m }',
        '  destinations:',
        '    - { name: s, kind: slack, urlEnv: U }',
        '    - { name: s, kind: teams, urlEnv: U }',
      ),
      env,
    );
    expect(message).toMatch(/destinations\[1\]\.name: is used by another destination/);
    expect(message).toMatch(/retry\.firstDelay: must not be longer than retry\.maxDelay/);
  });

  it('never quotes a secret back in a refusal', () => {
    const message = refusal(file(...resource, 'notifications:', '  destinations:', '    - { name: s, kind: slack, urlEnv: U }'), {
      U: 'http://hooks.example/SECRET-TOKEN',
    });
    expect(message).not.toContain('SECRET-TOKEN');
  });
});
