// A Notice in each destination's own message format, and the signature of the generic webhook.
// Pure. Whatever people typed (reasons, comments) and names from the directory are escaped for the
// target: Slack gets them in plain_text objects (never parsed as mrkdwn) and its fallback `text`
// with &, <, > escaped (Slack's required escaping); Teams gets Adaptive Card TextBlocks whose
// Markdown characters are backslash-escaped.
//
// The generic webhook is signed (README, "Notifications"): header
//   X-Access-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
// and X-Access-Delivery: <delivery id> (the same id on every retry of one notification).

import { createHmac } from 'node:crypto';
import type { Notice } from './notice.js';

/** Slack caps a section's text at 3000 characters and a header's at 150. */
const SLACK_SECTION_CHARS = 2_900;
const SLACK_HEADER_CHARS = 150;

export const SIGNATURE_HEADER = 'X-Access-Signature';
export const DELIVERY_HEADER = 'X-Access-Delivery';

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Slack's escaping for text it parses: &, < and > (https://api.slack.com/reference/surfaces/formatting#escaping). */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Backslash before every character Markdown gives a meaning (Teams renders TextBlock text as Markdown). */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!<>|~]/g, (c) => `\\${c}`);
}

/** The whole notice on one line of plain text, command included. */
export function plainText(notice: Notice): string {
  const reason = notice.reason ? ` Reason: "${notice.reason}".` : '';
  const command = notice.command ? ` Run: ${notice.command}` : '';
  return `${notice.title}: ${notice.text}${reason}${command}`;
}

/** A Slack incoming webhook message: a fallback `text` (notifications, old clients) and blocks. */
export function slackMessage(notice: Notice): Record<string, unknown> {
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(notice.title, SLACK_HEADER_CHARS) } },
    { type: 'section', text: { type: 'plain_text', text: cut(notice.text, SLACK_SECTION_CHARS) } },
  ];
  if (notice.reason) blocks.push({ type: 'section', text: { type: 'plain_text', text: cut(`Reason: ${notice.reason}`, SLACK_SECTION_CHARS) } });
  // The command is the broker's own text (a base32 id): safe inside mrkdwn code.
  if (notice.command) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `\`${notice.command}\`` } });
  return { text: escapeSlack(plainText(notice)), blocks };
}

/** A Teams Workflows ("Post to a channel when a webhook request is received") message: one Adaptive Card. */
export function teamsMessage(notice: Notice): Record<string, unknown> {
  const body: Record<string, unknown>[] = [
    { type: 'TextBlock', text: escapeMarkdown(notice.title), weight: 'Bolder', size: 'Medium', wrap: true },
    { type: 'TextBlock', text: escapeMarkdown(notice.text), wrap: true },
  ];
  if (notice.reason) body.push({ type: 'TextBlock', text: `Reason: ${escapeMarkdown(notice.reason)}`, wrap: true });
  if (notice.command) body.push({ type: 'TextBlock', text: escapeMarkdown(notice.command), fontType: 'Monospace', wrap: true });
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body },
      },
    ],
  };
}

/** The generic webhook's JSON: the notice, its delivery id and the request as the API shows it. */
export function webhookMessage(notice: Notice, deliveryId: string): Record<string, unknown> {
  return {
    id: deliveryId,
    kind: notice.kind,
    change: notice.change,
    at: new Date(notice.at).toISOString(),
    title: notice.title,
    text: notice.text,
    reason: notice.reason,
    command: notice.command,
    request: notice.request,
  };
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function signature(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}
