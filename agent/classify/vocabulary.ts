// SPDX-License-Identifier: MIT
// The classification and its fixed vocabulary (shared/IO-MODELS.md, "The
// vocabulary iotrace uses in its output"): the labels are a stable contract
// for --json, recordings and the dashboard. Plain JSON data.

export const WAIT_LABELS = ['blocking', 'busy-poll', 'select', 'poll', 'epoll', 'signal-driven', 'io_uring', 'linux-aio'] as const;
export type WaitLabel = (typeof WAIT_LABELS)[number];
export const DATA_LABELS = ['copy', 'sendfile', 'splice', 'mmap', 'copy_file_range', 'msg_zerocopy'] as const;
export type DataLabel = (typeof DATA_LABELS)[number];
export const CONCURRENCY_LABELS = ['single-thread', 'event-loops', 'thread-per-connection', 'process-per-connection', 'thread-pool'] as const;
export type ConcurrencyLabel = (typeof CONCURRENCY_LABELS)[number];
export type TriggerLabel = 'level' | 'edge' | 'mixed';

/** How sure a label is: high = direct evidence in volume, medium = direct but little of it or inferred from structure, low = one weak sign. */
export type Confidence = 'high' | 'medium' | 'low';

export interface Evidence {
  confidence: Confidence;
  /** Sentences with the figures behind the label, most telling first. */
  evidence: string[];
}

export interface WaitEntry extends Evidence {
  label: WaitLabel;
  /** Share of the waiting time seen (0..1); 0 when the mechanism needs no syscalls to wait (SQPOLL). */
  share: number;
  waitNs: number;
  calls: number;
  /** Threads that wait this way. */
  threads: number;
}

export interface TriggerEntry extends Evidence {
  label: TriggerLabel;
  /** Registrations seen with and without EPOLLET (listening sockets apart). */
  edge: number;
  level: number;
}

export interface DataEntry extends Evidence {
  label: DataLabel;
  /** Share of the bytes moved (0..1). */
  share: number;
  bytes: number;
  /** Under 5% of the bytes: present, but not how this process moves its data. */
  minor: boolean;
}

export interface ConcurrencyEntry extends Evidence {
  label: ConcurrencyLabel;
  /** Event loops for event-loops, threads for a pool, connections' threads or processes otherwise. */
  count: number;
}

export interface MultiplexerStats {
  label: 'select' | 'poll' | 'epoll';
  calls: number;
  wakeupsPerSec: number;
  /** select/poll: nfds per call; epoll: fds registered (null when not known). */
  watchedPerCall: number | null;
  readyPerCall: number;
  /** select only: highest fd watched, against FD_SETSIZE. */
  maxFd?: number;
  fdSetSize?: number;
}

export interface BusyPollStats {
  /** data and accept calls, their EAGAIN returns, and the EAGAINs with no wait since the previous EAGAIN. */
  ioCalls: number;
  eagain: number;
  spins: number;
  /** spins / ioCalls */
  share: number;
}

export interface UringStats {
  rings: number;
  sqpoll: boolean;
  /** IORING_SETUP_* names of the flags seen. */
  setupFlags: string[];
  enterCalls: number;
  /** SQEs consumed per io_uring_enter. */
  submittedPerEnter: number | null;
  sqThreads: number[];
  /** Requests submitted and CQEs posted, from the io_uring tracepoints (eBPF backend only). */
  requests?: number;
  completions?: number;
}

export interface Costs {
  /** What a request is here: accepted connections, or request/response exchanges (reads returning data on sockets, io_uring recv completions), whichever is more. */
  requests: number;
  requestBasis: 'accepts' | 'exchanges' | 'none';
  accepts: number;
  exchanges: number;
  /**
   * syscalls and modeSwitches are real syscalls only; uringRequests (eBPF
   * backend only) are the io_uring requests submitted, which are no syscalls.
   */
  perRequest: { syscalls: number; modeSwitches: number; cpuCopies: number; bytesCopied: number; uringRequests?: number } | null;
  /** Per KiB the process sent on sockets. */
  perKiB: { syscalls: number; modeSwitches: number; uringRequests?: number } | null;
  /** CPU copies of each byte sent, after IO-MODELS.md's copy table: read+write 2, mmap+write 1, sendfile 1 (0 with scatter-gather DMA), splice 0. */
  copiesPerByte: number | null;
  /** Bytes that crossed the user/kernel boundary (read/write family). */
  bytesCopied: number;
  /** Bytes moved without a user-space copy (sendfile, splice, copy_file_range, MSG_ZEROCOPY). */
  bytesNoUserCopy: number;
  bytesSent: number;
}

export interface Advice {
  text: string;
  /** The measured figure the advice rests on. */
  evidence: string;
}

export interface Classification {
  /** Seconds of activity the classification rests on (0 for an inspection alone). */
  windowSec: number;
  /** Where it comes from: traced syscalls, the /proc picture, or both. */
  sources: Array<'trace' | 'inspect'>;
  /** No I/O observed: nothing is guessed. Waits still show where threads sit. */
  idle: boolean;
  role: 'server' | 'client' | 'unknown';
  wait: WaitEntry[];
  epollTrigger: TriggerEntry | null;
  data: DataEntry[];
  concurrency: ConcurrencyEntry[];
  multiplexers: MultiplexerStats[];
  busyPoll: BusyPollStats;
  ioUring: UringStats | null;
  costs: Costs;
  advice: Advice[];
  /** Things seen and deliberately not counted, so nothing is dropped silently. */
  notes: string[];
}
