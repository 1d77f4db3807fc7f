// SPDX-License-Identifier: MIT
// Loads the native addon, in this one place.
import * as path from 'node:path';

import type { NativeAddon } from '../native/index';
import { IotraceError } from './errors';

let cached: NativeAddon | undefined;

function firstLine(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] : String(err);
}

/**
 * The addon, built by `npm run build:native` into build/Release. IOTRACE_ADDON, a
 * developer knob, names another build to load instead and nothing else (`npm run
 * test:sanitize` points it at the AddressSanitizer/UBSan build).
 */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  const override = process.env.IOTRACE_ADDON;
  if (override) {
    const file = path.resolve(override);
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      cached = require(file) as NativeAddon;
      return cached;
    } catch (err) {
      throw new IotraceError('ENATIVE', `IOTRACE_ADDON=${override}: ${firstLine(err)}`);
    }
  }
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
      failures.push(`${file}: ${firstLine(err)}`);
    }
  }
  throw new IotraceError(
    'ENATIVE',
    `the native addon is not built (run "npm run build"); tried:\n  ${failures.join('\n  ')}`,
  );
}
