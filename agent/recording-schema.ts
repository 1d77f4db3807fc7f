// SPDX-License-Identifier: MIT
// The recording format: JSON Lines, one header, one snapshot per interval, one
// summary at the end. docs/recording.md describes it for users.
import type { Classification } from './classify/vocabulary';
import type { Inspection } from './inspection';
import type { Snapshot } from './snapshot';
import type { Summary } from './summary';

/** "iotrace.recording/<major>": readers refuse a newer major. */
export const RECORDING_SCHEMA = 'iotrace.recording/1';
export const RECORDING_MAJOR = 1;

export interface SessionHeader {
  type: 'header';
  schema: string;
  iotraceVersion: string;
  /** 'ptrace' or 'ebpf'. */
  backend: string;
  /** Why this backend: '--backend ebpf', 'auto: the eBPF probes loaded', 'ebpf unavailable: …; using ptrace'. Absent in older recordings. */
  backendReason?: string;
  mode: 'attach' | 'run';
  /** Run mode: whether a seccomp filter limited the stops to catalogued syscalls. */
  seccomp: boolean;
  target: { pid: number; comm: string; cmdline: string; exe: string };
  host: { hostname: string; kernel: string; arch: string; cpus: number };
  startTime: string;
  intervalMs: number;
  /** The /proc picture taken before tracing began; absent in older recordings or when /proc could not be read. */
  inspection?: Inspection;
}

export interface SnapshotLine {
  type: 'snapshot';
  snapshot: Snapshot;
  /** The classification of the session so far (from its start to this snapshot). */
  classification?: Classification;
}

export interface SummaryLine {
  type: 'summary';
  summary: Summary;
}

export type RecordingLine = SessionHeader | SnapshotLine | SummaryLine;
