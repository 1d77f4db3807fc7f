// SPDX-License-Identifier: MIT
// The checkout's root, wherever this file runs from: compiled in dist/test/
// for the tests, or as TypeScript through tsx for the benchmark.
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'probes', 'syscalls.tbl'))) return dir;
  }
  throw new Error(`no probes/syscalls.tbl above ${__dirname}`);
}

export const ROOT = findRoot();
