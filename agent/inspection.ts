// SPDX-License-Identifier: MIT
// The static picture of a process read from /proc at zero cost to it: what
// `iotrace inspect` prints, what `attach` shows before traced figures exist,
// and the classifier's second source of evidence (registrations made before
// the attach are only visible here). Plain JSON data, like a snapshot.
import type { FdType } from './snapshot';

export interface Inspection {
  /** When it was read (ISO 8601) and how long reading took. */
  takenAt: string;
  durationMs: number;
  /** The process asked for first, then its descendants when they were asked for. */
  processes: InspectedProcess[];
}

export interface InspectedProcess {
  pid: number;
  /** 0 for the process asked for. */
  parentPid: number;
  comm: string;
  cmdline: string;
  threads: InspectedThread[];
  /** Every descriptor up to a cap; fdCount is the true number. */
  fds: InspectedFd[];
  fdCount: number;
  epoll: EpollInstance[];
  ioUring: UringInstance[];
  /** Regular files mapped without PROT_EXEC (data, not code): a sign of the mmap data path. Absent when not read. */
  mappedFiles?: MappedFile[];
}

export interface MappedFile {
  path: string;
  /** Bytes mapped, over all its mappings. */
  bytes: number;
  shared: boolean;
}

export interface InspectedThread {
  tid: number;
  comm: string;
  /** /proc/<pid>/task/<tid>/stat state: R, S, D, T, t, Z, I. */
  state: string;
  /** The syscall it is blocked in now (/proc/…/syscall), null when running in user space or unknown. */
  syscall: { nr: number; name: string; fd: number | null } | null;
  /** True for an io_uring kernel thread (PF_IO_WORKER: the SQPOLL thread, io-wq workers): it runs no user code, syscall is null. Absent otherwise. */
  ioWorker?: boolean;
}

export interface InspectedFd {
  fd: number;
  type: FdType;
  /** Path, or local -> peer address, as in the snapshot's fds. */
  desc: string;
  /** From the flags line of /proc/<pid>/fdinfo/<fd> (octal there). */
  flags: number;
  nonblock: boolean;
  async: boolean;
}

export interface EpollInstance {
  fd: number;
  /** Registered descriptors (fdinfo tfd lines), capped like fds; count is the true number. */
  registrations: EpollRegistration[];
  count: number;
  edge: number;
  oneshot: number;
  exclusive: number;
}

export interface EpollRegistration {
  tfd: number;
  events: number;
  edge: boolean;
  oneshot: boolean;
  exclusive: boolean;
}

export interface UringInstance {
  fd: number;
  /** Pid of the SQPOLL kernel thread (fdinfo SqThread), null without SQPOLL. */
  sqThread: number | null;
  sqEntries: number | null;
  cqEntries: number | null;
}
