// SPDX-License-Identifier: MIT
// The whole surface of the native addon (build/Release/iotrace.node), declared
// once. Loaded only by agent/native.ts. Counters are cumulative since attach;
// all times are CLOCK_MONOTONIC nanoseconds.

export interface NativeSyscallStat {
  nr: number;
  calls: number;
  errors: number;
  eagain: number;
  totalNs: number;
  maxNs: number;
  /** Sum of positive returns of ret=bytes syscalls. */
  bytes: number;
  /** Sum of positive returns of ret=count syscalls (ready fds). */
  ready: number;
  /** Sum of the nfds/maxevents argument. */
  watched: number;
  /** Largest nfds/maxevents argument. */
  maxWatched: number;
  /** EAGAIN returns after another EAGAIN of the same thread with no wait/sync/sleep call between. */
  eagainSpin: number;
  /** Bucket i: calls with 2^i <= latency ns < 2^(i+1). */
  latLog2: number[];
  /** errno number (as a string key) → count. */
  errnos: Record<string, number>;
}

export interface NativeFdStat {
  pid: number;
  fd: number;
  calls: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  closes: number;
  /** data.read calls on it (as in_fd) that returned > 0. */
  reads: number;
  /** readlink of /proc/<pid>/fd/<fd> when last seen open ('socket:[123]', a path), '' if never. */
  link: string;
}

export interface NativeThreadStat {
  pid: number;
  tid: number;
  calls: number;
  totalNs: number;
  bytesIn: number;
  bytesOut: number;
  alive: boolean;
  /** Syscall the thread is inside now, -1 in user space. */
  curNr: number;
  curFd: number;
  curSinceNs: number;
  /** Indexed by iot_wait_kind (probes/iotrace.h), waitKinds entries: select, poll, epoll, signal, uring, aio, io, sleep. */
  waitNs: number[];
  waitCalls: number[];
  /** Calls that failed with EAGAIN, and of them the spins (as NativeSyscallStat.eagainSpin). */
  eagain: number;
  eagainSpin: number;
}

/** Ended threads taken out of `threads` (native/aggregate.h kMaxEndedThreads): their count and sums. */
export interface NativeFoldedThreads {
  threads: number;
  calls: number;
  totalNs: number;
  bytesIn: number;
  bytesOut: number;
  waitNs: number[];
  waitCalls: number[];
  eagain: number;
  eagainSpin: number;
}

export interface NativeProcessStat {
  pid: number;
  /** 0 for the process attached to or started. */
  parentPid: number;
  execs: number;
  exited: boolean;
  exitCode: number | null;
  exitSignal: number | null;
  coreDumped: boolean;
}

export interface NativeCounters {
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
  /** io_uring requests not followed: the eBPF in-flight map was full. */
  uringOverflow: number;
}

/** probes/iotrace.h struct io_stat, session-wide. */
export interface NativeIoStats {
  epollCtlAdd: number;
  epollCtlMod: number;
  epollCtlDel: number;
  epollCtlEt: number;
  epollCtlOneshot: number;
  epollCtlExclusive: number;
  epollCtlUnread: number;
  uringSetups: number;
  uringSetupFlags: number;
  uringSqpoll: number;
  uringSubmitted: number;
  aioSubmitted: number;
  mmapFile: number;
  mmapFileBytes: number;
  zerocopySends: number;
  zerocopyBytes: number;
  nonblockSets: number;
  asyncSets: number;
  setown: number;
  setsig: number;
}

/** probes/iotrace.h struct uring_op_stat: one io_uring opcode of the target's rings (eBPF only). */
export interface NativeUringOpStat {
  opcode: number;
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

export interface NativeSnapshot {
  monoNs: number;
  tracees: number;
  syscalls: NativeSyscallStat[];
  fds: NativeFdStat[];
  threads: NativeThreadStat[];
  threadsFolded: NativeFoldedThreads;
  processes: NativeProcessStat[];
  counters: NativeCounters;
  io: NativeIoStats;
  /** Empty under ptrace, which cannot see io_uring requests. */
  uringOps: NativeUringOpStat[];
}

export interface NativeStatus {
  running: boolean;
  targetGone: boolean;
  pid: number;
  exited: boolean;
  exitCode: number | null;
  exitSignal: number | null;
  coreDumped: boolean;
  detachPending: number;
}

/** What drainEvents hands back. */
export interface NativeEventDrain {
  /** EVENT_COLUMNS (7) numbers per event: startNs - originNs (negative for a call entered before the origin), durNs, pid, tid, nr, fd (-1: none), ret. Oldest first. */
  events: Float64Array;
  /** Events consumed past `max`: not returned. */
  discarded: number;
  /** Cumulative: events the backend's ring had no room for. */
  dropped: number;
}

export interface NativeTracer {
  readonly pid: number;
  snapshot(): NativeSnapshot;
  /** --events: empties the event ring, returning up to max events; after stop(), what it held at the stop. */
  drainEvents(max: number, originNs: number): NativeEventDrain;
  status(): NativeStatus;
  /** Detaches from every tracee; false if some did not stop within timeoutMs. */
  stop(timeoutMs?: number): boolean;
}

export interface NativeTraceOptions {
  backend: 'ptrace' | 'ebpf';
  /** ptrace run mode: stop only on seccompNrs (a seccomp filter installed before exec). */
  seccomp: boolean;
  seccompNrs: number[];
  /** Attach only: processes that already exist to trace as well (best effort). */
  extraPids?: number[];
  /** Capture each counted syscall as an event for drainEvents (a bounded ring). */
  events?: boolean;
  /** Spawn only: the command's stdout goes to stderr (iotrace's stdout carries --json). */
  stdoutToStderr?: boolean;
}

/** Thrown errors carry code ('EPERM'), errno, syscall and reason. */
export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
  reason: string;
}

export interface NativeAddon {
  attach(pid: number, options: NativeTraceOptions): NativeTracer;
  spawn(path: string, argv: string[], envp: string[], options: NativeTraceOptions): NativeTracer;
  monoNs(): number;
  /** malloc_trim(0): hands the free pages of every malloc arena back to the kernel. */
  trimMalloc(): void;
  readonly latBuckets: number;
  readonly nrMax: number;
  /** IOT_WAIT_KINDS: the length of NativeThreadStat.waitNs and waitCalls. */
  readonly waitKinds: number;
}
