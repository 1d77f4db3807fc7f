// SPDX-License-Identifier: MIT
// Loads the native addon, in this one place.
import * as path from 'node:path';

import type { NativeAddon } from '../native/index';
import { IotraceError } from './errors';

let cached: NativeAddon | undefined;

/** The addon, built by `npm run build:native` into build/Release. */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  // dist/agent/native.js and agent/native.ts both sit two levels below the root.
  const root = path.resolve(__dirname, '..', '..');
  const candidates = [
    path.join(root, 'build', 'Release', 'iotrace.node'),
    path.join(root, 'build', 'Debug', 'iotrace.node'),
    path.resolve(__dirname, '..', 'build', 'Release', 'iotrace.node'),
  ];
  const failures: string[] = [];
  for (const file of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      cached = require(file) as NativeAddon;
      return cached;
    } catch (err) {
      failures.push(`${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  throw new IotraceError(
    'ENATIVE',
    `the native addon is not built (run "npm run build"); tried:\n  ${failures.join('\n  ')}`,
  );
}
