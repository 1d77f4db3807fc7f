// SPDX-License-Identifier: MIT
// The errors iotrace reports to users: a stable code, one line, an exit status.

/** Exit statuses of the CLI. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** An unexpected bug: the only case that prints a stack. */
export const EXIT_BUG = 70;

/** An error a user can act on: printed as one line, never with a stack. */
export class IotraceError extends Error {
  readonly code: string;
  readonly exitStatus: number;

  constructor(code: string, message: string, exitStatus: number = EXIT_FAILURE) {
    super(message);
    this.name = 'IotraceError';
    this.code = code;
    this.exitStatus = exitStatus;
  }
}

/** Node system errors (fs, net) carry a code such as 'ENOENT'. */
export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}

/** "ENOSPC (no space left on device)" from a Node system error. */
export function describeSystemError(err: unknown): string {
  const code = errnoCode(err);
  const message = err instanceof Error ? err.message : String(err);
  // Node's messages read "ENOSPC: no space left on device, write": keep the middle.
  const m = /^[A-Z0-9]+: ([^,]+)/.exec(message);
  if (code && m) return `${code} (${m[1]})`;
  return code ?? message;
}
