// Programs some end-to-end tests drive (Chromium, nginx, HAProxy) are the machine's own, installed
// from Debian's packages by .ci/run; on a machine without one, those tests skip and say why.

import { accessSync, constants, statSync } from 'node:fs';

/** Why `file` cannot run here, naming the Debian package that installs it, or null when it can. */
export function programMissing(file: string, debianPackage: string): string | null {
  try {
    accessSync(file, constants.X_OK);
    if (statSync(file).isFile()) return null;
  } catch {
    // not there, or not executable: say so below
  }
  return `${file} is not an installed program (apt-get install ${debianPackage})`;
}
