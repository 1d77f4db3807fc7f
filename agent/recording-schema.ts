// SPDX-License-Identifier: MIT
// The recording format: JSON Lines, one header, one snapshot per interval, one
// summary at the end. docs/recording.md describes it for users.
import type { Snapshot } from './snapshot';
import type { Summary } from './summary';

/** "iotrace.recording/<major>": readers refuse a newer major. */
export const RECORDING_SCHEMA = 'iotrace.recording/1';
export const RECORDING_MAJOR = 1;

export interface SessionHeader {
  type: 'header';
  schema: string;
  iotraceVersion: string;
  backend: string;
  mode: 'attach' | 'run';
  /** Run mode: whether a seccomp filter limited the stops to catalogued syscalls. */
  seccomp: boolean;
  target: { pid: number; comm: string; cmdline: string; exe: string };
  host: { hostname: string; kernel: string; arch: string; cpus: number };
  startTime: string;
  intervalMs: number;
}

export interface SnapshotLine {
  type: 'snapshot';
  snapshot: Snapshot;
}

export interface SummaryLine {
  type: 'summary';
  summary: Summary;
}

export type RecordingLine = SessionHeader | SnapshotLine | SummaryLine;
