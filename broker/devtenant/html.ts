// The few HTML pages of the dev tenant share one plain layout and one escaping function; every
// value that came from a request or the directory goes through `escapeHtml`.

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** A complete page; `title` is text, `body` is HTML the caller built with escapeHtml. */
export function renderPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · access dev tenant</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; color: #1b1b1b; }
  h1 { font-size: 1.4rem; }
  .note { color: #555; }
  .error { border-left: 4px solid #c50f1f; padding: .5rem 1rem; background: #fdf3f4; }
  .ok { border-left: 4px solid #107c10; padding: .5rem 1rem; background: #f1faf1; }
  fieldset { border: 1px solid #ccc; padding: .5rem 1rem; }
  label.user { display: block; padding: .35rem 0; }
  .groups { color: #555; font-size: .9rem; }
  input[name=user_code] { font-size: 1.2rem; letter-spacing: .15rem; text-transform: uppercase; }
  button { margin-top: 1rem; font-size: 1rem; padding: .4rem 1.2rem; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}
