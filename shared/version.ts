// The product version (and the optional peer packages' ranges), read once from package.json so
// each is written in one place.

import { readFileSync } from 'node:fs';

interface PackageJson {
  name?: string;
  version?: string;
  peerDependencies?: Record<string, string>;
}

function readPackageJson(): PackageJson {
  // Compiled code lives in dist/shared/, sources in shared/: package.json is two or one level up.
  for (const candidate of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as PackageJson;
      if (pkg.name === 'access' && pkg.version) return pkg;
    } catch {
      // try the next candidate
    }
  }
  return {};
}

const PACKAGE = readPackageJson();

export const VERSION = PACKAGE.version ?? '0.0.0';

/** The version range package.json's peerDependencies give `name` (the broker's native store binding), or "latest". */
export function peerRange(name: string): string {
  return PACKAGE.peerDependencies?.[name] ?? 'latest';
}
