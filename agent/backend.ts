// SPDX-License-Identifier: MIT
// What every backend (ptrace, eBPF) offers a session.
import type { EventBatch } from './events';
import type { Snapshot } from './snapshot';

export type BackendName = 'ptrace' | 'ebpf';
/** What --backend takes: auto is eBPF where its probes load, ptrace elsewhere. */
export type BackendChoice = 'auto' | BackendName;
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'ebpf', 'ptrace'];

export interface BackendStatus {
  /** Every traced process has exited. */
  targetGone: boolean;
  /** Exit of the process attached to or started, once known. */
  exit: TargetExit | null;
}

export interface TargetExit {
  code: number | null;
  signal: string | null;
  coreDumped: boolean;
}

export interface Backend {
  readonly name: BackendName;
  /** Process attached to, or started. */
  readonly pid: number;
  /** Cumulative counters since the session started, as plain data. */
  snapshot(): Snapshot;
  status(): BackendStatus;
  /**
   * --events: the syscalls that finished since the last call, at most max of
   * them (the rest discarded and counted); after stop(), those left at the
   * stop. Nothing when the session captures no events.
   */
  drainEvents(max: number): EventBatch;
  /** Detaches and leaves the target running; idempotent. Returns a warning, if any. */
  stop(): string | undefined;
}
