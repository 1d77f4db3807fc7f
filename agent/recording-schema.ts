// SPDX-License-Identifier: MIT
// The recording format: JSON Lines, one header, one snapshot per interval
// (with --events, each followed by an events line), one summary at the end.
// docs/recording.md describes it for users.
import type { Classification } from './classify/vocabulary';
import type { Inspection } from './inspection';
import type { Snapshot } from './snapshot';
import type { Summary } from './summary';

/** "iotrace.recording/<major>": readers refuse a newer major. */
export const RECORDING_SCHEMA = 'iotrace.recording/1';
export const RECORDING_MAJOR = 1;

/**
 * The longest line iotrace writes and reads. The recorder drops (and counts)
 * a longer line rather than write what readers refuse; readers stop at the
 * first line past it without holding more of it, so memory stays bounded
 * whatever the file holds. docs/recording.md says how large real lines get.
 */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

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
  /** true: recorded with --events, each snapshot line is followed by an events line. Absent otherwise. */
  events?: true;
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

/** The columns of an events line, in order. */
export const EVENT_COLUMNS = ['startNs', 'durNs', 'pid', 'tid', 'nr', 'fd', 'ret'] as const;
export type EventColumn = (typeof EVENT_COLUMNS)[number];

/**
 * --events: the syscalls that finished since the previous events line, one
 * row each, written right after the snapshot line of the same tNs.
 * startNs: ns since the session started (the clock of Snapshot.tNs); durNs:
 * its latency; nr: the syscall number (agent/gen/syscalls SYSCALLS); fd: its
 * fd argument per the catalog (-1 if none); ret: the raw return (a negative
 * errno on error).
 */
export interface EventsLine {
  type: 'events';
  /** The tNs of the snapshot line just before. */
  tNs: number;
  /** Cumulative events not recorded so far: the backend's ring was full, or past --events-max. */
  dropped: number;
  columns: EventColumn[];
  /** One row per event, EVENT_COLUMNS numbers each. */
  events: number[][];
}

export type RecordingLine = SessionHeader | SnapshotLine | EventsLine | SummaryLine;
