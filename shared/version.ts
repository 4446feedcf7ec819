// The product version, read once from package.json so it is written in one place.

import { readFileSync } from 'node:fs';

function readVersion(): string {
  // Compiled code lives in dist/shared/, sources in shared/: package.json is two or one level up.
  for (const candidate of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'access' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
