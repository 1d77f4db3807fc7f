// SPDX-License-Identifier: MIT
// The end-of-session summary: a pure function of the session's header and its
// last snapshot, so a live session and `report` on its recording agree.
import type { TargetExit } from './backend';
import { classify } from './classify';
import type { Classification } from './classify/vocabulary';
import { quantileNs } from './histogram';
import type { SessionHeader } from './recording-schema';
import { rateGroup, type Counters, type FdStat, type ProcessStat, type RateGroup, type Snapshot, type UringOpStat } from './snapshot';
import type { SyscallClass } from './gen/syscalls';

export const SUMMARY_SCHEMA = 'iotrace.summary/1';

export interface SyscallSummary {
  name: string;
  nr: number;
  cls: SyscallClass;
  calls: number;
  errors: number;
  eagain: number;
  errnos: Record<string, number>;
  totalNs: number;
  avgNs: number;
  p50Ns: number;
  p99Ns: number;
  maxNs: number;
  bytes: number;
}

/** One io_uring opcode, latencies from submission to completion (eBPF backend only). */
export interface UringOpSummary {
  name: string;
  opcode: number;
  submitted: number;
  completions: number;
  errors: number;
  eagain: number;
  bytes: number;
  totalNs: number;
  avgNs: number;
  p50Ns: number;
  p99Ns: number;
  maxNs: number;
}

export interface ThreadSummary {
  pid: number;
  tid: number;
  calls: number;
  totalNs: number;
  bytesIn: number;
  bytesOut: number;
  alive: boolean;
}

/** Threads of the session in numbers: the table lists the live ones and at most 256 ended ones. */
export interface ThreadCounts {
  /** Every thread traced in the session, listed or folded. */
  seen: number;
  ended: number;
  /** Ended threads not listed, their activity summed in threadsFolded. */
  folded: number;
}

export interface FoldedThreadsSummary {
  threads: number;
  calls: number;
  totalNs: number;
  bytesIn: number;
  bytesOut: number;
}

export interface GroupSummary {
  group: RateGroup;
  calls: number;
  totalNs: number;
  bytes: number;
}

export interface Summary {
  schema: typeof SUMMARY_SCHEMA;
  iotraceVersion: string;
  backend: string;
  /** Why this backend (absent in summaries of older recordings). */
  backendReason?: string;
  mode: 'attach' | 'run';
  target: SessionHeader['target'];
  startTime: string;
  durationNs: number;
  /** Why the session ended: 'duration', 'SIGINT', 'SIGTERM', 'target-exit', … */
  endReason: string;
  /** The exit of the process attached to or started, if it exited. */
  exit: TargetExit | null;
  /** The I/O model of the whole session, in shared/IO-MODELS.md's vocabulary (docs/classifier.md). */
  classification: Classification;
  totals: {
    calls: number;
    errors: number;
    totalNs: number;
    /** Bytes copied into the process (read, recv…) and out of it (write, send…). */
    bytesCopiedIn: number;
    bytesCopiedOut: number;
    /** Bytes moved by sendfile, splice, copy_file_range: never copied to user space. */
    bytesZeroCopy: number;
    callsPerSec: number;
  };
  groups: GroupSummary[];
  syscalls: SyscallSummary[];
  /** io_uring requests by opcode: only when the backend sees them (eBPF), absent otherwise. */
  uringOps?: UringOpSummary[];
  fds: FdStat[];
  threads: ThreadSummary[];
  /** Absent in summaries written before threads were folded. */
  threadCounts?: ThreadCounts;
  /** The ended threads not listed in threads, summed; absent when none were folded. */
  threadsFolded?: FoldedThreadsSummary;
  processes: ProcessStat[];
  counters: Counters;
  warnings: string[];
}

export interface SummaryInput {
  header: SessionHeader;
  snapshot: Snapshot;
  endReason: string;
  exit: TargetExit | null;
  warnings: string[];
}

function uringOpSummary(o: UringOpStat): UringOpSummary {
  // Only the CQEs that found their request carry a latency (a multishot
  // request's intermediate CQEs do not): the histogram counts those.
  const timed = o.latLog2.reduce((a, b) => a + b, 0);
  return {
    name: o.name,
    opcode: o.opcode,
    submitted: o.submitted,
    completions: o.completions,
    errors: o.errors,
    eagain: o.eagain,
    bytes: o.bytes,
    totalNs: o.totalNs,
    avgNs: timed ? Math.round(o.totalNs / timed) : 0,
    p50Ns: quantileNs(o.latLog2, 0.5, o.maxNs),
    p99Ns: quantileNs(o.latLog2, 0.99, o.maxNs),
    maxNs: o.maxNs,
  };
}

export function summarize({ header, snapshot, endReason, exit, warnings }: SummaryInput): Summary {
  const syscalls: SyscallSummary[] = snapshot.syscalls
    .map((s) => ({
      name: s.name,
      nr: s.nr,
      cls: s.cls,
      calls: s.calls,
      errors: s.errors,
      eagain: s.eagain,
      errnos: s.errnos,
      totalNs: s.totalNs,
      avgNs: s.calls ? Math.round(s.totalNs / s.calls) : 0,
      p50Ns: quantileNs(s.latLog2, 0.5, s.maxNs),
      p99Ns: quantileNs(s.latLog2, 0.99, s.maxNs),
      maxNs: s.maxNs,
      bytes: s.bytes,
    }))
    // strace -c's order: where the time went first.
    .sort((a, b) => b.totalNs - a.totalNs || b.calls - a.calls || a.nr - b.nr);

  const groups = new Map<RateGroup, GroupSummary>();
  for (const s of snapshot.syscalls) {
    const g = rateGroup(s.cls);
    const cur = groups.get(g) ?? { group: g, calls: 0, totalNs: 0, bytes: 0 };
    cur.calls += s.calls;
    cur.totalNs += s.totalNs;
    cur.bytes += s.bytes;
    groups.set(g, cur);
  }

  const fds = [...snapshot.fds].sort(
    (a, b) => b.bytesIn + b.bytesOut - (a.bytesIn + a.bytesOut) || b.calls - a.calls || a.pid - b.pid || a.fd - b.fd,
  );
  const threads = snapshot.threads
    .map(({ pid, tid, calls, totalNs, bytesIn, bytesOut, alive }) => ({ pid, tid, calls, totalNs, bytesIn, bytesOut, alive }))
    .sort((a, b) => b.calls - a.calls || a.tid - b.tid);

  const f = snapshot.threadsFolded;
  const folded = f?.threads ?? 0;

  const calls = syscalls.reduce((n, s) => n + s.calls, 0);
  const durationSec = snapshot.tNs / 1e9;
  return {
    schema: SUMMARY_SCHEMA,
    iotraceVersion: header.iotraceVersion,
    backend: header.backend,
    ...(header.backendReason ? { backendReason: header.backendReason } : {}),
    mode: header.mode,
    target: header.target,
    startTime: header.startTime,
    durationNs: snapshot.tNs,
    endReason,
    exit,
    classification: classify({ window: snapshot, inspection: header.inspection ?? null }),
    totals: {
      calls,
      errors: syscalls.reduce((n, s) => n + s.errors, 0),
      totalNs: syscalls.reduce((n, s) => n + s.totalNs, 0),
      bytesCopiedIn: groups.get('read')?.bytes ?? 0,
      bytesCopiedOut: groups.get('write')?.bytes ?? 0,
      bytesZeroCopy: groups.get('zero-copy')?.bytes ?? 0,
      callsPerSec: durationSec > 0 ? Math.round(calls / durationSec) : 0,
    },
    groups: [...groups.values()].sort((a, b) => b.calls - a.calls),
    syscalls,
    // Requests in flight overlap, so their summed latency is no share of the
    // session's time: the busiest opcodes come first, not the slowest.
    ...(snapshot.uringOps
      ? { uringOps: snapshot.uringOps.map(uringOpSummary).sort((a, b) => b.submitted - a.submitted || b.completions - a.completions || a.opcode - b.opcode) }
      : {}),
    fds,
    threads,
    threadCounts: {
      seen: threads.length + folded,
      ended: threads.filter((t) => !t.alive).length + folded,
      folded,
    },
    ...(f ? { threadsFolded: { threads: f.threads, calls: f.calls, totalNs: f.totalNs, bytesIn: f.bytesIn, bytesOut: f.bytesOut } } : {}),
    processes: [...snapshot.processes].sort((a, b) => a.pid - b.pid),
    counters: snapshot.counters,
    warnings,
  };
}
