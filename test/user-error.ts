// SPDX-License-Identifier: MIT
// What every error a user can cause looks like: one line "iotrace: <message>", no stack.
import assert from 'node:assert/strict';

import type { iotraceDone } from './harness';

export type Done = Awaited<ReturnType<typeof iotraceDone>>;

/** A user error: exit status, exactly one line "iotrace: <message>" on stderr, no stack. */
export function assertUserError(res: Done, message: RegExp, exitCode = 1): void {
  const ctx = `exit ${res.code}/${res.signal}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`;
  assert.ok(!res.stderr.includes('    at '), `a stack trace was printed:\n${ctx}`);
  assert.equal(res.code, exitCode, ctx);
  const lines = res.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr:\n${ctx}`);
  assert.match(lines[0], /^iotrace: \S/, ctx);
  assert.match(lines[0], message, ctx);
}
