// SPDX-License-Identifier: MIT
// iotrace's version, from package.json.
import * as fs from 'node:fs';
import * as path from 'node:path';

function readVersion(): string {
  for (const up of ['..', path.join('..', '..')]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, up, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'iotrace' && pkg.version) return pkg.version;
    } catch {
      // try the next level up
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
