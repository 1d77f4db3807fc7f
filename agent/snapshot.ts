// SPDX-License-Identifier: MIT
// The one snapshot model: what every backend produces and every consumer
// (summary, recorder, live view, later the dashboard) reads. Plain JSON data.
import type { SyscallClass } from './gen/syscalls';

/** Per syscall, cumulative since the session started. */
export interface SyscallStat {
  nr: number;
  name: string;
  cls: SyscallClass;
  calls: number;
  errors: number;
  /** Errors that were EAGAIN (== EWOULDBLOCK). */
  eagain: number;
  /** errno name ('ENOENT') → count. */
  errnos: Record<string, number>;
  totalNs: number;
  maxNs: number;
  /** Bytes returned by ret=bytes syscalls (read, write, sendfile…). */
  bytes: number;
  /** Ready fds returned by wait syscalls (select, poll, epoll_wait). */
  ready: number;
  /** Sum of the nfds/maxevents argument of wait syscalls. */
  watched: number;
  /** Largest nfds/maxevents argument seen (select: highest fd + 1). Not a window delta. */
  maxWatched: number;
  /** EAGAIN returns that followed another EAGAIN of the same thread with no wait, sync or sleep call between. */
  eagainSpin: number;
  /** Bucket i: calls with 2^i <= latency ns < 2^(i+1). */
  latLog2: number[];
}

export type FdType =
  | 'tcp' | 'tcp6' | 'udp' | 'udp6' | 'unix' | 'socket'
  | 'file' | 'dev' | 'pipe' | 'epoll' | 'eventfd' | 'signalfd' | 'timerfd' | 'io_uring' | 'anon'
  | 'unknown';

/** Per (process, descriptor number). A number reused after close keeps one entry. */
export interface FdStat {
  pid: number;
  fd: number;
  calls: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  /** Successful closes of this number: how many descriptors it stood for, less one. */
  closes: number;
  type: FdType;
  /** data.read calls on it that returned data: request/response exchanges on a socket. */
  reads: number;
  /** Path, or local -> peer address, or '' when not known (closed before it was seen). */
  desc: string;
}

/** Kinds of waiting a thread's syscall time stands for (probes/iotrace.h iot_wait_kind). */
export const WAIT_KINDS = ['select', 'poll', 'epoll', 'signal', 'uring', 'aio', 'io', 'sleep'] as const;
export type WaitKind = (typeof WAIT_KINDS)[number];

/** What a thread's syscalls cost, per thread or summed over folded threads. */
export interface ThreadCounters {
  calls: number;
  totalNs: number;
  bytesIn: number;
  bytesOut: number;
  /** Time inside syscalls by kind of waiting: io is data/accept/connect calls that did not return EAGAIN. */
  waitNs: Record<WaitKind, number>;
  waitCalls: Record<WaitKind, number>;
  eagain: number;
  eagainSpin: number;
}

export interface ThreadStat extends ThreadCounters {
  pid: number;
  tid: number;
  alive: boolean;
  /** What the thread is blocked in now; null when in user space or gone. */
  current: { name: string; fd: number; forNs: number } | null;
}

/**
 * Ended threads no longer listed one by one: past the 256 busiest ended ones,
 * the others are summed here so that a target creating threads without end
 * costs iotrace no memory per thread (docs/limits.md).
 */
export interface FoldedThreads extends ThreadCounters {
  threads: number;
}

export interface ProcessStat {
  pid: number;
  /** 0 for the process attached to or started. */
  parentPid: number;
  execs: number;
  exited: boolean;
  exitCode: number | null;
  exitSignal: string | null;
  coreDumped: boolean;
  /** From /proc while it lived. */
  cmdline: string;
}

/** Things that happened and things not counted, so nothing is lost silently. */
export interface Counters {
  clones: number;
  forks: number;
  execs: number;
  threadExits: number;
  signals: number;
  groupStops: number;
  unmatchedExits: number;
  foreignArch: number;
  unknownNr: number;
  fdOverflow: number;
  threadOverflow: number;
  processOverflow: number;
  /** io_uring requests not followed (the eBPF backend's in-flight map was full); absent before the eBPF backend. */
  uringOverflow?: number;
  /** --events only: events not recorded so far (the backend's ring was full, or past --events-max). */
  eventsDropped?: number;
}

/**
 * One io_uring opcode of the target's rings, from the kernel's io_uring
 * tracepoints (eBPF backend only): the requests a syscall tracer cannot see
 * once they are submitted, accounted like syscalls.
 */
export interface UringOpStat {
  opcode: number;
  /** agent/uring-ops.ts: 'recv', 'send', 'accept', 'splice', … */
  name: string;
  submitted: number;
  /** CQEs; a multishot request posts several. */
  completions: number;
  errors: number;
  eagain: number;
  /** Positive results of the opcodes that move bytes. */
  bytes: number;
  /** Submit to completion. */
  totalNs: number;
  maxNs: number;
  latLog2: number[];
}

/** How the traced processes set up their I/O (probes/iotrace.h struct io_stat). */
export interface IoStats {
  epollCtlAdd: number;
  epollCtlMod: number;
  epollCtlDel: number;
  /** ADD/MOD registrations with EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE. */
  epollCtlEt: number;
  epollCtlOneshot: number;
  epollCtlExclusive: number;
  /** ADD/MOD whose struct epoll_event could not be read from the tracee. */
  epollCtlUnread: number;
  uringSetups: number;
  /** OR of io_uring_params.flags of the rings set up. Not a window delta. */
  uringSetupFlags: number;
  uringSqpoll: number;
  /** SQEs consumed by io_uring_enter (sum of its returns). */
  uringSubmitted: number;
  /** iocbs queued by io_submit (sum of its returns). */
  aioSubmitted: number;
  /** Shared, non-executable mmaps of regular files and their lengths. */
  mmapFile: number;
  mmapFileBytes: number;
  zerocopySends: number;
  zerocopyBytes: number;
  /** O_NONBLOCK set by fcntl, ioctl(FIONBIO), accept4/socket SOCK_NONBLOCK. */
  nonblockSets: number;
  /** O_ASYNC set by fcntl or ioctl(FIOASYNC); F_SETOWN(_EX); F_SETSIG. */
  asyncSets: number;
  setown: number;
  setsig: number;
}

export interface Snapshot {
  /** Nanoseconds since the session started. */
  tNs: number;
  tracees: number;
  syscalls: SyscallStat[];
  fds: FdStat[];
  threads: ThreadStat[];
  /** Absent while no thread was folded (and in recordings made before folding). */
  threadsFolded?: FoldedThreads;
  processes: ProcessStat[];
  counters: Counters;
  /** Absent in recordings made before the classifier. */
  io?: IoStats;
  /** io_uring requests by opcode: eBPF backend only (absent under ptrace, which cannot see them). */
  uringOps?: UringOpStat[];
}

/** The rate groups of the live view. */
export type RateGroup = 'wait' | 'read' | 'write' | 'zero-copy' | 'other';

export function rateGroup(cls: SyscallClass): RateGroup {
  if (cls.startsWith('wait.')) return 'wait';
  if (cls === 'data.read') return 'read';
  if (cls === 'data.write') return 'write';
  if (cls === 'data.sendfile' || cls === 'data.splice' || cls === 'data.copy_file_range') return 'zero-copy';
  return 'other';
}

/** Calls per rate group between two cumulative snapshots, per second. */
export function ratesPerSec(prev: Snapshot | undefined, cur: Snapshot): Record<RateGroup, number> & { total: number } {
  const out = { wait: 0, read: 0, write: 0, 'zero-copy': 0, other: 0, total: 0 };
  const before = new Map<number, number>();
  for (const s of prev?.syscalls ?? []) before.set(s.nr, s.calls);
  const dtSec = (cur.tNs - (prev?.tNs ?? 0)) / 1e9;
  if (dtSec <= 0) return out;
  for (const s of cur.syscalls) {
    const d = (s.calls - (before.get(s.nr) ?? 0)) / dtSec;
    out[rateGroup(s.cls)] += d;
    out.total += d;
  }
  return out;
}
