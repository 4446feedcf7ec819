// Whole numbers as people and clients type them: CLI flags (--port, --limit, --after-seq), query
// parameters (?limit=, $top), ports in the config, Retry-After. One parser, so "1e3", "0x10",
// "-1", "2.5" and "" are refused the same way everywhere; each caller words its own refusal.

const DIGITS = /^\d+$/;

/**
 * The whole number `text` spells (digits only; spaces around it are ignored) when it lies from
 * `min` to `max`; otherwise undefined.
 */
export function parseWholeNumber(text: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const trimmed = text.trim();
  if (!DIGITS.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isSafeInteger(value) && value >= min && value <= max ? value : undefined;
}
