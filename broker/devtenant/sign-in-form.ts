// The form both dev sign-in pages show (device code: devicelogin-page.ts; browser: authorize-page.ts):
// the anti-forgery token, the page's own fields, the dev users to pick from (with their MFA and
// groups, so a tester sees who satisfies a resource's conditions), Sign in and Decline.

import type { TenantContext } from './context.js';
import type { DirectoryUser } from './directory.js';
import { FORM_TOKEN_FIELD } from './form-guard.js';
import { escapeHtml, renderPage } from './html.js';

/** Direct groups listed next to a user before "and N more" (grace is in 251). */
const GROUPS_SHOWN = 4;

export interface SignInForm {
  /** Where the form posts (escaped here). */
  action: string;
  /** A sentence above the form, as HTML the caller built with escapeHtml. */
  intro: string;
  /** What went wrong with the last try (text), shown above the form. */
  error: string | null;
  /** The upn typed or picked before, checked again. */
  chosen: string;
  /** The page's own fields (hidden request fields, the user code input), as HTML built with escapeHtml. */
  fields: string;
}

export function signInFormPage(ctx: TenantContext, form: SignInForm): string {
  const chosen = form.chosen.trim().toLowerCase();
  const users = ctx.directory
    .users()
    .map((user) => {
      const checked = user.upn.toLowerCase() === chosen ? ' checked' : '';
      const mfa = user.mfa ? ' <span class="groups">(MFA)</span>' : '';
      return `<label class="user"><input type="radio" name="username" value="${escapeHtml(user.upn)}" required${checked}> <strong>${escapeHtml(user.name)}</strong> ${escapeHtml(user.upn)}${mfa} <span class="groups">${escapeHtml(groupSummary(user))}</span></label>`;
    })
    .join('\n');
  return renderPage(
    'Sign in to the access dev tenant',
    `${form.error ? `<p class="error">${escapeHtml(form.error)}</p>\n` : ''}${form.intro}
<form method="post" action="${escapeHtml(form.action)}">
<input type="hidden" name="${FORM_TOKEN_FIELD}" value="${escapeHtml(ctx.forms.issue())}">
${form.fields}
<fieldset>
<legend>Sign in as</legend>
${users}
</fieldset>
<button type="submit" name="action" value="sign_in">Sign in</button>
<button type="submit" name="action" value="decline" formnovalidate>Decline</button>
</form>
<p class="note">Tenant ${escapeHtml(ctx.tenantId)}</p>`,
  );
}

function groupSummary(user: DirectoryUser): string {
  const groups = [...user.groups];
  if (groups.length === 0) return 'no groups';
  const shown = groups.slice(0, GROUPS_SHOWN).join(', ');
  return groups.length > GROUPS_SHOWN ? `${shown} and ${groups.length - GROUPS_SHOWN} more` : shown;
}
