// The pure parts of notifications: which changes make which notices, each destination's format
// with what people typed escaped, the webhook signature, and the retry schedule.

import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { retryDelay } from '../../../shared/backoff.js';
import { escapeMarkdown, escapeSlack, signature, slackMessage, teamsMessage, webhookMessage } from '../../../broker/notifications/formats.js';
import { expiringNotice, noticesFor } from '../../../broker/notifications/notice.js';
import type { RequestView } from '../../../shared/wire.js';
import { requestView } from '../../helpers/request-views.js';

const AT = Date.UTC(2025, 2, 4, 12, 0);

function view(overrides: Partial<RequestView> = {}): RequestView {
  return requestView(AT, overrides);
}

describe('noticesFor', () => {
  it.each([
    ['a pending request', view(), ['created'], ['new_request'], 'access approve r7f3c0a1b2'],
    ['an auto-approved request (nobody to ask)', view({ state: 'approved' }), ['created', 'auto_approved'], [], null],
    ['an approval', view({ state: 'approved', expiresAt: new Date(AT + 3_600_000).toISOString() }), ['review_recorded', 'approved'], ['decision'], null],
    [
      'a break-glass grant',
      view({ state: 'approved', breakGlass: true }),
      ['created', 'break_glass'],
      ['break_glass'],
      'access review r7f3c0a1b2 --verdict acceptable|not-acceptable --comment "…"',
    ],
    ['a revoke', view({ state: 'revoked', closeReason: 'done' }), ['revoked'], ['revoke'], null],
    ['a clock expiry (no notice)', view({ state: 'expired' }), ['expired'], [], null],
  ] as const)('makes the right notices for %s', (_name, v, changes, kinds, command) => {
    const notices = noticesFor(v, changes, AT);
    expect(notices.map((n) => n.kind)).toEqual(kinds);
    if (command !== null) expect(notices[0]?.command).toBe(command);
  });

  it('tells approvers of a pending extension, not of one approved by policy', () => {
    const extension = {
      seq: 1,
      durationMs: 1_800_000,
      reason: 'still running',
      requestedAt: '',
      approvalsRequired: 1,
      approvals: 0,
      reviews: [],
      decidedAt: null,
      previousExpiresAt: '',
    };
    const pending = view({ state: 'approved', extensions: [{ ...extension, state: 'pending' }] });
    expect(noticesFor(pending, ['extension_requested'], AT)).toMatchObject([
      { kind: 'extension_request', command: 'access approve r7f3c0a1b2', reason: 'still running' },
    ]);
    const byPolicy = view({ state: 'approved', extensions: [{ ...extension, state: 'approved', approvalsRequired: 0 }] });
    expect(noticesFor(byPolicy, ['extension_requested', 'extended'], AT)).toEqual([]);
  });

  it('offers the exact extend command in the expiring notice when the policy allows more time', () => {
    expect(expiringNotice(view({ state: 'approved', extendableMs: 25 * 60_000 }), 300_000, AT).command).toBe('access extend r7f3c0a1b2 --for 25m');
    expect(expiringNotice(view({ state: 'approved', extendableMs: null }), 300_000, AT).command).toBeNull();
  });
});

describe('formats', () => {
  const notice = noticesFor(view({ reason: 'a <b>&</b> *b* `c` [l](u)' }), ['created'], AT)[0];
  if (!notice) throw new Error('no notice');

  it("escapes Slack's &, < and > in the fallback text and keeps typed text out of mrkdwn", () => {
    expect(escapeSlack('<@U123> & <!channel>')).toBe('&lt;@U123&gt; &amp; &lt;!channel&gt;');
    const message = slackMessage(notice) as { text: string; blocks: { text: { type: string; text: string } }[] };
    expect(message.text).toContain('a &lt;b&gt;&amp;&lt;/b&gt;');
    expect(message.text).toContain('access approve r7f3c0a1b2');
    const mrkdwn = message.blocks.filter((b) => b.text.type === 'mrkdwn').map((b) => b.text.text);
    expect(mrkdwn).toEqual(['`access approve r7f3c0a1b2`']);
  });

  it('escapes Markdown in Teams TextBlocks and sends an Adaptive Card attachment', () => {
    expect(escapeMarkdown('*b* _i_ [l](u) `c` # h')).toBe('\\*b\\* \\_i\\_ \\[l\\]\\(u\\) \\`c\\` \\# h');
    const message = teamsMessage(notice) as { attachments: { contentType: string; content: { body: { text: string }[] } }[] };
    expect(message.attachments[0]?.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(message.attachments[0]?.content.body.map((b) => b.text)).toContain('Reason: a \\<b\\>&\\</b\\> \\*b\\* \\`c\\` \\[l\\]\\(u\\)');
  });

  it('signs the webhook body as t=<seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>', () => {
    const body = JSON.stringify(webhookMessage(notice, 'delivery-1'));
    const expected = createHmac('sha256', 'k'.repeat(32)).update(`1741089600.${body}`).digest('hex');
    expect(signature('k'.repeat(32), body, 1_741_089_600)).toBe(`t=1741089600,v1=${expected}`);
  });
});

describe('retryDelay', () => {
  it('doubles from the first delay up to the cap, keeping at least half of it under jitter', () => {
    const low = () => 0;
    const high = () => 1;
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelay(n, 1_000, 10_000, high))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelay(n, 1_000, 10_000, low))).toEqual([500, 1_000, 2_000, 4_000, 5_000, 5_000]);
  });
});
